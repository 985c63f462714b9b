"""core/errors.py: one line per error, wherever an error is shown."""

from __future__ import annotations

from airflow_provider_agentic_mlops.core.errors import describe, first_line


def test_first_line_is_the_stripped_first_line_with_url_passwords_masked() -> None:
    err = RuntimeError("\n  could not connect to postgresql://svc:s3cr3t@db:5432/state  \n[SQL: SELECT 1]\n")
    assert first_line(err) == "could not connect to postgresql://svc:***@db:5432/state"
    assert "s3cr3t" not in describe(err)


def test_first_line_is_cut_at_the_limit_and_empty_for_an_empty_message() -> None:
    assert first_line(ValueError("x" * 500), 200) == "x" * 200
    assert first_line(ValueError("")) == ""
    assert first_line(ValueError("  \n ")) == ""


def test_describe_names_the_class_and_only_the_class_when_there_is_no_message() -> None:
    assert describe(KeyError("model")) == "KeyError: 'model'"
    assert describe(TimeoutError()) == "TimeoutError"


def test_a_password_holding_an_at_sign_is_masked_up_to_the_last_at_before_the_host() -> None:
    from airflow_provider_agentic_mlops.core.errors import mask_url_secrets

    assert mask_url_secrets("postgresql://u:p@ss@db/x") == "postgresql://u:***@db/x"
    assert mask_url_secrets("see postgresql://u:a@b@c@db:5432/x and http://h:5000/p?q=a@b") == (
        "see postgresql://u:***@db:5432/x and http://h:5000/p?q=a@b"
    )


def test_query_values_named_like_a_secret_are_masked() -> None:
    from airflow_provider_agentic_mlops.core.errors import mask_url_secrets

    masked = mask_url_secrets("http://mlflow:5000/?token=t0k&api_key=k3y&client_secret=s3c&sslpassword=pw&page=2")
    assert masked == "http://mlflow:5000/?token=***&api_key=***&client_secret=***&sslpassword=***&page=2"
