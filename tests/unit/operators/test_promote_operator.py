"""PromoteOperator in-process, for what fails before MLflow is asked anything (the integration tests run it against a
real MLflow server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles.airflow_task import task_context

DIGEST = "sha256:" + "a" * 64


def _context() -> dict:
    validation = {
        "passed": True,
        "report_digest": DIGEST,
        "champion_version": "6",
        "report_uri": f"runs:/r1/agentic_mlops/validation/{DIGEST[7:]}/report.html",
    }
    return task_context(
        xcoms={
            ("retrain", "return_value"): {"version": "7", "mlflow_run_id": "r1"},
            ("validate", "validation"): validation,
        }
    )


def test_a_promote_connection_that_does_not_exist_fails_naming_it_and_the_fix_not_the_artifact_store(
    airflow_home: Path,
) -> None:
    """A typo in promote_conn_id was reported as an unreadable validation report, its fix cut at 200 characters
    and the advice (the artifact store, re-running validation) beside the point."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowConnectionNotFound
    from airflow_provider_agentic_mlops.operators.promote import PromoteOperator

    promote = PromoteOperator(task_id="promote", model_name="fraud", mlflow_conn_id="mlflow_promote_prod")
    with pytest.raises(MlflowConnectionNotFound) as failed:
        promote.execute(_context())
    message = str(failed.value)
    assert message.startswith("MLflow connection 'mlflow_promote_prod' does not exist")
    assert "airflow connections add mlflow_promote_prod --conn-type agentic_mlops_mlflow" in message
    assert "(access: read, train or promote)" in message  # whole, not cut at 200 characters
    assert "re-run validation" not in message.lower() and "artifact store" not in message
