"""Who may decide, and who counts as whom (no Slack, no Airflow)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_agentic_mlops.core.approval_policy import (
    Allowlist,
    ApprovalRefused,
    Identities,
    bad_text,
    check_two_person_rule,
)

APPROVAL = {"id": 7, "model_name": "fraud", "required_approvals": 2}
IDENTITIES = Identities.parse(
    '{"alice": {"slack": ["U_ALICE"], "os": ["alice", "asmith"], "email": "Alice@Example.com"},'
    ' "bob": {"slack": "U_BOB"}}'
)


def test_allowlist_accepts_listed_users_and_group_members_only() -> None:
    allowlist = Allowlist(("U1",), "S1")
    assert allowlist.refusal(APPROVAL, "U1") is None
    assert allowlist.refusal(APPROVAL, "U2", {"U2"}) is None
    assert "not an approver" in allowlist.refusal(APPROVAL, "U3", {"U2"})


def test_allowlist_fails_closed_when_empty() -> None:
    assert "no Slack approvers" in Allowlist().refusal(APPROVAL, "U1")
    assert Allowlist(("",)).refusal(APPROVAL, "") is not None


def test_a_slack_id_an_os_login_and_an_airflow_login_of_one_person_are_one_person() -> None:
    by_slack = IDENTITIES.slack("U_ALICE")
    by_cli = IDENTITIES.cli("asmith", display_name="Alice S.")
    by_ui = IDENTITIES.airflow("alice")
    assert by_slack.person == by_cli.person == by_ui.person == "alice"
    assert by_slack.mapped and by_cli.mapped and by_ui.mapped
    assert by_cli.details == {"os_user": "asmith", "display_name": "Alice S.", "airflow_user": "alice"}


def test_a_slack_user_maps_by_the_email_slack_reports() -> None:
    assert IDENTITIES.slack("U_OTHER", email="alice@example.com").person == "alice"
    assert IDENTITIES.has_emails


def test_unmapped_identities_count_as_themselves_and_the_display_name_never_counts() -> None:
    assert IDENTITIES.cli("mallory", display_name="alice").person == "os:mallory"
    assert not IDENTITIES.cli("mallory", display_name="alice").mapped
    assert IDENTITIES.slack("U_X" + "X" * 300).person == ("U_X" + "X" * 300)[:200]


def test_identity_details_no_database_can_store_are_scrubbed() -> None:
    voters = [
        IDENTITIES.slack("U_X", email="m\x00@example.com", display_name="\ud800m"),
        IDENTITIES.cli("m\ud800", display_name="\x00"),
        IDENTITIES.airflow("m\x00", email="\udfffm@example.com"),
    ]
    for voter in voters:
        for value in (voter.person, *voter.details.values()):
            assert value is None or bad_text(value) is None, (voter, value)


def test_two_person_approvals_need_mapped_people_but_a_deny_always_counts() -> None:
    with pytest.raises(ApprovalRefused, match="not mapped to an Airflow user.*approver_identities"):
        check_two_person_rule(APPROVAL, IDENTITIES.cli("mallory"), approve=True, via="cli")
    check_two_person_rule(APPROVAL, IDENTITIES.cli("mallory"), approve=False, via="cli")
    check_two_person_rule({**APPROVAL, "required_approvals": 1}, IDENTITIES.cli("mallory"), approve=True, via="cli")
    check_two_person_rule(APPROVAL, IDENTITIES.slack("U_BOB"), approve=True, via="slack")


def test_an_airflow_login_the_map_does_not_list_cannot_approve_a_two_person_request() -> None:
    # "admin" (no entry) and "alice" completed a two-person request; one person with an Airflow login other than
    # their map key would count twice (their Slack vote and their page vote)
    admin = IDENTITIES.airflow("admin")
    assert not admin.mapped and admin.person == "admin"
    with pytest.raises(ApprovalRefused, match=r"Airflow user 'admin' is not in \[agentic_mlops\] approver_identities"):
        check_two_person_rule(APPROVAL, admin, approve=True, via="ui")
    check_two_person_rule(APPROVAL, admin, approve=False, via="ui")
    check_two_person_rule({**APPROVAL, "required_approvals": 1}, admin, approve=True, via="ui")
    assert IDENTITIES.airflow("someone", email="alice@example.com").mapped
    # without a map, the Airflow login is the only identity there is: it counts as a person
    assert Identities().airflow("admin").mapped


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object keyed by Airflow user name"),
        ('{"a": "U1"}', "must be an object"),
        ('{"a": {"slack": 5}}', "'a'.slack must be a string or a list"),
        ('{"a": {"slack": "U1"}, "b": {"slack": ["U1"]}}', "listed for both 'a' and 'b'"),
    ],
)
def test_a_bad_identity_map_is_refused_naming_the_option(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as err:
        Identities.parse(text)
    assert "approver_identities" in str(err.value)


@pytest.mark.parametrize(
    ("given", "ids"),
    [
        (None, []),
        ("", []),
        ("U_ALICE", ["U_ALICE"]),
        ("U_ALICE,U_BOB", ["U_ALICE", "U_BOB"]),
        ("U_BOB U_ALICE\tW012ABC", ["U_BOB", "U_ALICE", "W012ABC"]),
        (["U_ALICE", "U_BOB,U_CAROL"], ["U_ALICE", "U_BOB", "U_CAROL"]),
    ],
)
def test_slack_user_ids_are_read_from_a_list_or_a_separated_string(given: object, ids: list[str]) -> None:
    from airflow_provider_agentic_mlops.core.approval_policy import slack_user_ids

    assert slack_user_ids(given) == ids


@pytest.mark.parametrize("given", ["alice", "u_alice", "U", "<@U_ALICE>", ["U_ALICE", 7], 42])
def test_what_is_not_a_slack_user_id_is_named(given: object) -> None:
    from airflow_provider_agentic_mlops.core.approval_policy import slack_user_ids

    with pytest.raises(ValueError, match="is not a Slack user id"):
        slack_user_ids(given)


@pytest.mark.parametrize("approval_id", [0, -5, 10**18, 10**20])
def test_an_id_no_request_can_have_is_told_the_range_of_ids(approval_id: int) -> None:
    """ "ids are 1-18 digits" was wrong for 0 and -5, which have one digit."""
    from airflow_provider_agentic_mlops.core.approval_policy import bad_approval_id

    message = bad_approval_id(approval_id)
    assert message is not None and f"approval {approval_id} does not exist" in message
    assert "approval ids are whole numbers from 1 to 999999999999999999" in message


@pytest.mark.parametrize("approval_id", [1, 10**18 - 1])
def test_ids_in_the_range_may_name_a_request(approval_id: int) -> None:
    from airflow_provider_agentic_mlops.core.approval_policy import bad_approval_id

    assert bad_approval_id(approval_id) is None


def _ask_again(run_id: str, **details: object) -> str:
    from airflow_provider_agentic_mlops.core.approval_policy import ask_again_command

    return ask_again_command(
        {"dag_id": "d", "run_id": run_id, "details": {"sensor_task_id": "approve", **details}},
        airflow_base_url="https://airflow.example.com",
    )


def _rest_body(text: str) -> dict:
    import shlex

    words = shlex.split(text.split("REST API: ", 1)[1].split("; or ")[0])
    return json.loads(words[words.index("-d") + 1])


@pytest.mark.parametrize(
    "run_id",
    [
        "alert__2026-11-29T08:10:51.008727+00:00",  # an alert's run
        "manual__2026-11-29T08:10:51.008727+00:00",  # `airflow dags trigger`, the UI's Trigger
        "manual__2026-11-29T08:10:51.008727+00:00_aB3dE6gH",  # Airflow 3.2+'s id of a run without a logical date
        "scheduled__2026-11-29T08:00:00+00:00",  # its date is run_after, not the logical date, in Airflow 3.2+
        "my run",
    ],
)
def test_the_clear_of_a_run_of_unknown_logical_date_names_the_run_id_never_a_date_read_from_it(run_id: str) -> None:
    """``airflow tasks clear`` selects runs by logical date only: a run without one (an alert's, a manual
    trigger's) is never cleared by it, whatever date its id holds (the command exits 0 and does nothing)."""
    from urllib.parse import quote

    text = _ask_again(run_id)
    assert "tasks clear" not in text and " -s " not in text
    assert f"https://airflow.example.com/dags/d/runs/{quote(run_id, safe='')}/tasks/approve" in text
    assert "curl -X POST https://airflow.example.com/api/v2/dags/d/clearTaskInstances " in text
    assert _rest_body(text) == {
        "dag_run_id": run_id,
        "task_ids": ["approve"],
        "include_downstream": True,
        "only_failed": False,
        "dry_run": False,
    }


def test_the_clear_of_a_run_with_a_logical_date_also_gives_the_cli_command() -> None:
    """A scheduled or backfill run's logical date (recorded with the request) selects it in ``airflow tasks clear``."""
    text = _ask_again("scheduled__2026-11-29T09:00:00+00:00", logical_date="2026-11-29T08:00:00+00:00")
    assert text.endswith(
        "; or: airflow tasks clear d -t approve --downstream -s 2026-11-29T08:00:00+00:00 -e 2026-11-29T08:00:00+00:00"
    ), text
    assert "dag_run_id" in text


def test_the_clear_without_a_known_airflow_url_says_where_it_goes() -> None:
    from airflow_provider_agentic_mlops.core.approval_policy import ask_again_command

    text = ask_again_command({"dag_id": "d", "run_id": "r"})
    assert "<airflow-url>/dags/d/runs/r/tasks/wait_for_approval" in text
    assert "'<airflow-url>/api/v2/dags/d/clearTaskInstances'" in text
