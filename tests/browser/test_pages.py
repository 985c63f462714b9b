"""The provider's pages in a real browser (headless Chromium) against the demo's real Airflow,
started as a user starts it (``./scripts/demo --port P``, a port other than 8080): they load without
console errors, the charts have a point per run, every link opens, Approve on the approvals page
lets the run promote the challenger, and stopping the demo stops every process it started."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.browser.cdp import Browser
from tests.browser.demo_process import Demo, demo_processes, stop_demo

DAG_ID = "agentic_mlops__fraud-detector"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _open(browser: Browser, demo: Demo, path: str) -> None:
    browser.clear_events()
    # the demo's simple auth manager (all admins) signs the browser in with a cookie, then redirects
    browser.open(f"{demo.url}/auth/token/login?next={quote(demo.url + path, safe='')}")
    assert browser.evaluate("location.pathname") == path.split("?")[0]


def _same_origin_links(browser: Browser) -> list[str]:
    return browser.evaluate(
        "[...document.querySelectorAll('a[href]')].map(a => new URL(a.getAttribute('href'), location.href).href)"
        ".filter(h => h.startsWith(location.origin))"
    )


def test_overview_lists_the_demo_model_with_a_sparkline_point_per_decision(browser: Browser, demo: Demo) -> None:
    decisions = demo.store().list_decisions("fraud-detector")
    assert f"{demo.url}/agentic-mlops/models" in demo.output()  # the demo prints the overview's URL
    _open(browser, demo, "/agentic-mlops/models")
    assert browser.evaluate("document.querySelectorAll('tr.model-row').length") == 1
    assert browser.evaluate("document.querySelectorAll('svg.sparkline circle.point').length") == len(decisions)
    assert browser.console_errors() == []


def test_model_page_draws_drift_heatmap_and_quality_with_a_point_per_run(browser: Browser, demo: Demo) -> None:
    decisions = demo.store().list_decisions("fraud-detector")
    observed = decisions[0]["inputs"]["drift_observed"]["columns"]
    _open(browser, demo, "/agentic-mlops/models/fraud-detector")
    assert browser.evaluate("document.querySelectorAll('#drift-chart circle.point').length") == len(decisions)
    actions = browser.evaluate("[...document.querySelectorAll('#drift-chart circle.point')].map(c => c.dataset.action)")
    assert actions == [d["final_action"] for d in reversed(decisions)]
    cells = browser.evaluate("document.querySelectorAll('#drift-heatmap rect.cell').length")
    assert cells == len(observed) * len(decisions)
    assert browser.evaluate("document.querySelectorAll('#quality-chart circle.point').length") == len(decisions)
    box = browser.evaluate("JSON.stringify(document.getElementById('drift-chart').getBoundingClientRect())")
    assert json.loads(box)["width"] > 100  # rendered, not just present
    assert browser.console_errors() == []


def test_every_link_of_the_pages_opens(browser: Browser, demo: Demo) -> None:
    decision_id = demo.store().list_decisions("fraud-detector")[0]["id"]
    for path in ("/agentic-mlops/models", "/agentic-mlops/models/fraud-detector", "/agentic-mlops/approvals"):
        _open(browser, demo, path)
        links = _same_origin_links(browser)
        assert links, f"no links on {path}"
        for link in links:
            assert browser.status_of(link) == 200, f"{link} (on {path}) does not open"
    _open(browser, demo, f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}")
    text = browser.evaluate("document.body.innerText")
    for heading in ("Rules fired", "Evidence", "Prompt", "Raw answer", "Tool calls", "Tokens"):
        assert heading in text
    assert browser.console_errors() == []


def test_the_drift_report_opens_from_the_model_page(browser: Browser, demo: Demo) -> None:
    _open(browser, demo, "/agentic-mlops/models/fraud-detector")
    report = browser.evaluate("[...document.querySelectorAll('a')].find(a => a.textContent === 'drift report').href")
    browser.open(report)
    assert (
        "Evidently" in browser.evaluate("document.documentElement.outerHTML")
        or browser.evaluate("document.body.innerText.length") > 100
    )


def test_extra_links_of_the_run_resolve_to_pages_that_open(browser: Browser, demo: Demo) -> None:
    run_id = demo.store().list_decisions("fraud-detector")[-1]["run_id"]
    _open(browser, demo, "/agentic-mlops/models")
    for task in ("check_drift", "decide", "validate"):
        url = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task}/links"
        links = json.loads(browser.evaluate(f"fetch({json.dumps(url)}).then(r => r.text())", await_promise=True))
        targets = [v for v in links["extra_links"].values() if v]
        assert targets, f"{task} has no extra link with a target: {links}"
        for target in targets:
            assert browser.status_of(target) == 200, f"{task} link {target} does not open"


def test_approve_from_the_page_records_the_decision_and_the_run_promotes(browser: Browser, demo: Demo) -> None:
    pending = demo.store().list_approvals(status="pending")[0]
    _open(browser, demo, "/agentic-mlops/approvals")
    assert browser.evaluate("document.querySelectorAll('section.request').length") == 1
    reason = f"document.getElementById('reason-{pending['id']}')"
    browser.evaluate(f"{reason}.value = 'checked the reports in the browser test'; 0")  # as a person types it
    browser.evaluate(f"document.querySelector('button[data-id=\"{pending['id']}\"][data-verb=approve]').click()")
    # the page reloads after the answer (the request moves to the history) and shows the answer again
    browser.wait_for(
        f"document.getElementById('request-{pending['id']}') === null && document.getElementById('msg').textContent"
    )
    decided = demo.store().get_approval(pending["id"])
    assert (decided["status"], decided["decided_via"]) == ("approved", "ui")
    assert decided["reason"] == "checked the reports in the browser test"
    demo.wait_until(
        lambda: any(e["action"] == "promoted" for e in demo.store().audit_trail("fraud-detector")), 600, "promotion"
    )
    _open(browser, demo, "/agentic-mlops/models/fraud-detector")
    assert "promoted" in browser.evaluate("document.getElementById('lineage-table').innerText")
    _open(browser, demo, "/agentic-mlops/approvals")
    assert "checked the reports in the browser test" in browser.evaluate("document.getElementById('history').innerText")
    assert browser.console_errors() == []


def test_stopping_the_demo_stops_every_process_it_started(demo: Demo) -> None:
    assert len(demo_processes(demo.home)) > 3  # the demo, airflow standalone and its components
    assert stop_demo(demo) == []
    assert demo.process.returncode == 0
    assert "Stopping the demo" in demo.output()
