"""The pages in headless Chromium against a real ``airflow api-server`` over a seeded state store:
quick (no scheduler, no loop), so the page behaviour is checked even where the full demo is too slow."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser.cdp import Browser
from tests.browser.conftest import NEVER_RAN, SeededServer
from tests.model_history_data import COLUMNS, RUNS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _open(browser: Browser, server: SeededServer, path: str) -> None:
    browser.clear_events()
    browser.open(f"{server.url}/auth/token/login?next={quote(server.url + path, safe='')}")
    assert browser.evaluate("location.pathname") == path


def test_overview_and_model_page_render_their_charts_without_console_errors(
    browser: Browser, seeded_server: SeededServer
) -> None:
    _open(browser, seeded_server, "/agentic-mlops/models")
    assert browser.evaluate("document.querySelectorAll('tr.model-row').length") == 2  # and the model that never ran
    assert browser.evaluate("document.querySelectorAll('svg.sparkline circle.point').length") == len(RUNS)
    assert browser.console_errors() == []
    _open(browser, seeded_server, "/agentic-mlops/models/fraud-detector")
    assert browser.evaluate("document.querySelectorAll('#drift-chart circle.point').length") == len(RUNS)
    assert browser.evaluate("document.querySelectorAll('#drift-heatmap rect.cell').length") == len(COLUMNS) * len(RUNS)
    assert browser.evaluate("document.querySelectorAll('#quality-chart circle.point').length") == len(RUNS)
    assert browser.evaluate("document.getElementById('drift-chart').getBoundingClientRect().width") > 100
    assert browser.console_errors() == []


def test_the_overviews_search_box_filters_by_name_and_keeps_the_text(
    browser: Browser, seeded_server: SeededServer
) -> None:
    _open(browser, seeded_server, "/agentic-mlops/models")
    for text, rows in (("FRAUD", 1), ("no-such-model", 0)):
        browser.evaluate(
            f"document.querySelector('#model-filter input[name=q]').value = {text!r};"
            "document.getElementById('model-filter').submit()"
        )
        browser.wait_for(
            f"location.search === '?q={text}' && document.readyState === 'complete'"
            " && document.getElementById('models-shown') !== null"
        )
        assert browser.evaluate("document.querySelectorAll('tr.model-row').length") == rows
        assert browser.evaluate("document.querySelector('#model-filter input[name=q]').value") == text
    assert "No model whose DAG you may read" in browser.evaluate("document.getElementById('no-models').innerText")
    assert browser.console_errors() == []


def test_every_link_opens_and_the_drift_report_is_served(browser: Browser, seeded_server: SeededServer) -> None:
    for path in ("/agentic-mlops/models", "/agentic-mlops/models/fraud-detector", "/agentic-mlops/approvals"):
        _open(browser, seeded_server, path)
        links = browser.evaluate(
            "[...document.querySelectorAll('a[href]')].map(a => new URL(a.getAttribute('href'), location.href).href)"
            ".filter(h => h.startsWith(location.origin + '/agentic-mlops'))"
        )
        assert links, f"no links on {path}"
        for link in links:
            assert browser.status_of(link) == 200, f"{link} (on {path}) does not open"
        assert browser.console_errors() == []
    _open(browser, seeded_server, "/agentic-mlops/models/fraud-detector")
    report = browser.evaluate("[...document.querySelectorAll('a')].find(a => a.textContent === 'drift report').href")
    browser.open(report)
    assert browser.evaluate("document.querySelector('h1').textContent") == "Drift report"


def test_a_decisions_page_names_its_runs_approvers_and_checks_its_trace(
    browser: Browser, seeded_server: SeededServer
) -> None:
    """The run that asked for approval: its request, each vote and the trace's digest check, as in a browser."""
    approved = seeded_server.seeded["decision_ids"][2]
    _open(browser, seeded_server, f"/agentic-mlops/models/fraud-detector/decisions/{approved}")
    shown = browser.evaluate("document.getElementById('approvals').innerText")
    assert f"#{seeded_server.seeded['approval_id']} for v2" in shown and "2 approvals required" in shown
    assert "ann approve via ui" in shown and "bob approve via ui" in shown
    digest = browser.evaluate("document.getElementById('trace-digest').innerText")
    assert "digest matches the audit entry" in digest
    assert browser.console_errors() == []


def test_approve_works_from_the_page_and_its_answer_stays_after_the_reload(
    browser: Browser, seeded_server: SeededServer
) -> None:
    pending = seeded_server.seeded["pending_id"]
    _open(browser, seeded_server, "/agentic-mlops/approvals")
    browser.evaluate(f"document.getElementById('reason-{pending}').value = 'approved in the browser test'; 0")
    browser.evaluate(f"document.querySelector('button[data-id=\"{pending}\"][data-verb=approve]').click()")
    # the page reloads after the answer (the request moves to the history) and shows the answer again
    answer = browser.wait_for(
        f"document.getElementById('request-{pending}') === null && document.getElementById('msg').textContent"
    )
    decided = seeded_server.store().get_approval(pending)
    assert (decided["status"], decided["decided_via"], decided["reason"]) == (
        "approved",
        "ui",
        "approved in the browser test",
    )
    assert "approved" in answer.lower()
    assert "approved in the browser test" in browser.evaluate("document.getElementById('history').innerText")
    assert browser.console_errors() == []


def test_a_rejected_challenger_is_shown_with_its_report_and_an_unknown_model_as_a_page(
    browser: Browser, seeded_server: SeededServer
) -> None:
    _open(browser, seeded_server, "/agentic-mlops/models/fraud-detector")
    verdict = browser.evaluate("document.querySelector('#decisions td.validation').innerText")
    assert "v3 rejected" in verdict and "FAILED guard: accuracy" in verdict
    report = browser.evaluate("document.querySelector('#decisions a.validation-report').href")
    browser.open(report)
    assert browser.evaluate("document.querySelector('h1').textContent") == "Validation: REJECTED"
    # a browser asking for a model the store never heard of gets a page in the plugin's layout, not JSON
    _open(browser, seeded_server, "/agentic-mlops/models/nope")
    assert "'nope' is unknown" in browser.evaluate("document.getElementById('error-message').textContent")
    back = browser.evaluate("document.getElementById('back').href")
    assert back == f"{seeded_server.url}/agentic-mlops/models" and browser.status_of(back) == 200
    assert browser.evaluate("document.querySelector('nav a').textContent") == "Models"


def test_a_model_whose_dag_never_ran_is_listed_and_its_page_says_how_to_start_it(
    browser: Browser, seeded_server: SeededServer
) -> None:
    """Right after setup: Airflow parsed the model's DAG (paused, as new DAGs are), nothing ran, the state store has
    nothing of it. The overview lists it and its page opens (it used to be absent, and a 404)."""
    _open(browser, seeded_server, "/agentic-mlops/models")
    names = browser.evaluate("[...document.querySelectorAll('tr.model-row td:first-child a')].map(a => a.textContent)")
    assert names == [NEVER_RAN, "fraud-detector"]
    row = browser.evaluate("document.querySelector('tr.model-row').innerText")
    assert f"agentic_mlops__{NEVER_RAN}" in row and "no run yet" in row and "DAG paused" in row
    browser.evaluate("document.querySelector('tr.model-row td:first-child a').click()")
    browser.wait_for(f"location.pathname === '/agentic-mlops/models/{NEVER_RAN}' && document.readyState === 'complete'")
    notice = browser.evaluate("document.getElementById('no-decision-yet').innerText")
    assert f"No decision yet: DAG agentic_mlops__{NEVER_RAN} has not run." in notice
    assert f"airflow dags unpause agentic_mlops__{NEVER_RAN}" in notice
    assert f"airflow dags trigger agentic_mlops__{NEVER_RAN}" in notice and "/agentic-mlops/alerts" in notice
    quality = browser.evaluate("document.getElementById('quality-unknown').innerText")
    assert quality == "Model quality is not known yet: no drift check has run."
    assert browser.console_errors() == []
