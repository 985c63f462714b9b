"""The pages' layout in headless Chromium, on their HTML rendered in-process (no Airflow server): what only
a browser shows, the colours in Airflow's dark mode and the width a long text gives a page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.plugins import alerts, approvals_page, overview
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app
from tests.browser.cdp import Browser
from tests.model_history_data import seed_history

DAG = "agentic_mlops__fraud-detector"
#: What WCAG asks of normal text against its background.
READABLE_CONTRAST = 4.5
#: ... and of a graphic, such as a chart legend's colour swatch.
READABLE_GRAPHIC_CONTRAST = 3


class User:
    def get_name(self) -> str:
        return "ui-alice"


@pytest.fixture
def pages(sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The plugin's app over a seeded store, as a user who may read and decide everything of its model."""
    monkeypatch.setattr(approvals_page, "is_authorized_dag", lambda user, dag_id, **kwargs: True)
    monkeypatch.setattr(approvals_page, "dag_teams", lambda dag_ids: dict.fromkeys(dag_ids))
    monkeypatch.setattr(
        overview, "last_dag_runs", lambda ids: {d: {"run_id": "manual__1", "state": "failed"} for d in ids}
    )
    monkeypatch.setattr(alerts, "known_models", lambda models=None: {"fraud-detector": {"dag_id": DAG, "paused": True}})
    root = FastAPI()
    app = create_app(AppSettings(signing_secret="s", store=sqlite_store))
    app.dependency_overrides[approvals_page.authenticated_user] = User
    root.mount("/agentic-mlops", app)
    yield TestClient(root)


def _show(browser: Browser, client: TestClient, path: str, folder: Path) -> None:
    """Open the page ``path`` of the plugin in the browser, from its HTML as the plugin serves it."""
    response = client.get(f"/agentic-mlops{path}")
    assert response.status_code == 200, response.text
    page = folder / (path.strip("/").replace("/", "_") + ".html")
    page.write_text(response.text)
    browser.open(page.as_uri())


def _colour_scheme(browser: Browser, scheme: str) -> None:
    browser.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])


#: Of each element matching SELECTOR (an SVG one only if text): its text colour's (an SVG text's fill's) contrast
#: ratio with the background it is drawn on (its own, else its nearest ancestor's with one), and its class.
CONTRAST_JS = """(() => {
const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
const linear = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
const lum = c => c.slice(0, 3).map(linear).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
const background = el => {
    for (; el; el = el.parentElement) {
        const c = rgb(getComputedStyle(el).backgroundColor);
        if (c.length === 3 || c[3] > 0) return c;
    }
    return [255, 255, 255];
};
const shown = el => !(el instanceof SVGElement) || ["text", "tspan"].includes(el.tagName);
return [...document.querySelectorAll(SELECTOR)].filter(shown).map(el => {
    const ink = el instanceof SVGElement ? getComputedStyle(el).fill : getComputedStyle(el).color;
    const [a, b] = [lum(rgb(ink)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    return {cls: (el.className.baseVal ?? el.className) || el.tagName, text: el.textContent.slice(0, 30), ratio,
            background: b};
});
})()"""


def _contrast(browser: Browser, selector: str) -> list[dict[str, Any]]:
    """:data:`CONTRAST_JS` of the elements matching ``selector``."""
    return browser.evaluate(CONTRAST_JS.replace("SELECTOR", json.dumps(selector)))


def test_in_dark_mode_the_pages_are_dark_and_their_text_and_badges_stay_readable(
    browser: Browser, pages: TestClient, sqlite_store: StateStore, tmp_path: Path
) -> None:
    """Airflow's UI in dark mode gives its iframe a dark colour scheme (prefers-color-scheme): the pages
    follow it instead of staying white, and every text and badge keeps a readable contrast; light mode too. The
    decision pages: the last run's, and the approved run's with its votes and its trace edited after it was recorded
    (the warning box)."""
    from airflow_provider_agentic_mlops.core.schema import decisions

    seeded = seed_history(sqlite_store)
    decision, approved = seeded["decision_ids"][-1], seeded["decision_ids"][2]
    with sqlite_store.engine.begin() as conn:
        conn.execute(decisions.update().where(decisions.c.id == approved).values(rationale="edited by hand"))
    try:
        for scheme, dark in (("dark", True), ("light", False)):
            _colour_scheme(browser, scheme)
            for path in (
                "/models",
                "/models/fraud-detector",
                f"/models/fraud-detector/decisions/{decision}",
                f"/models/fraud-detector/decisions/{approved}",
                "/approvals",
            ):
                _show(browser, pages, path, tmp_path)
                (body,) = _contrast(browser, "body")
                assert (body["background"] < 0.05) == dark, f"{path} in {scheme} mode: background {body}"
                texts = _contrast(
                    browser, ".badge, a, th, td, small, .muted, h2, h3, p, pre, button, .legend span, svg text"
                )
                assert texts, path
                if path.endswith(f"/{approved}"):
                    shown = (
                        "!!document.querySelector('#trace-digest.tampered') && !!document.getElementById('approvals')"
                    )
                    assert browser.evaluate(shown), path
                unreadable = [t for t in texts if t["ratio"] < READABLE_CONTRAST and "swatch" not in t["cls"]]
                unreadable += [t for t in _contrast(browser, ".swatch") if t["ratio"] < READABLE_GRAPHIC_CONTRAST]
                assert unreadable == [], f"{path} in {scheme} mode: {unreadable}"
    finally:
        _colour_scheme(browser, "light")


def test_a_long_rationale_without_spaces_wraps_instead_of_widening_the_page(
    browser: Browser, pages: TestClient, sqlite_store: StateStore, tmp_path: Path
) -> None:
    """An LLM's rationale or an approver's reason with no space (a URL, a hash, a run of characters) breaks
    anywhere: the model page was ~2,700 px wide for one."""
    from airflow_provider_agentic_mlops import approvals
    from tests.approval_data import request_approval

    word = "drift_share_of_amount_" * 90
    decision = sqlite_store.record_decision(
        "fraud-detector",
        mode="llm",
        final_action="retrain",
        decided_by="llm",
        dag_id=DAG,
        run_id="manual__long",
        rationale=word,
        rules_fired=[{"rule": "drift_share", "effect": "retrain", "detail": word}],
        evidence={},
        inputs={"drift": {"drift_share": 0.6}},
        prompt=[],
        raw_answer="",
        prompt_tokens=0,
        completion_tokens=0,
    )
    for run_id in ("r1", "r2"):
        request_approval(
            sqlite_store, model_name="fraud-detector", dag_id=DAG, run_id=run_id, details={"rationale": word}
        )
    decided = sqlite_store.list_approvals(status="pending")[0]["id"]
    approvals.decide(sqlite_store, decided, approve=False, user="ann", via="ui", reason=word[:1900])
    width = browser.evaluate("window.innerWidth")
    for path in ("/models/fraud-detector", f"/models/fraud-detector/decisions/{decision}", "/approvals"):
        _show(browser, pages, path, tmp_path)
        assert word[:40] in browser.evaluate("document.body.innerText"), path
        assert browser.evaluate("document.documentElement.scrollWidth") <= width, f"{path} is wider than the window"


def test_many_runs_and_a_long_model_name_without_spaces_do_not_widen_the_page(
    browser: Browser, pages: TestClient, sqlite_store: StateStore, tmp_path: Path
) -> None:
    """The heatmap grows a column per run and a model name (and its DAG id) has no space to break at: the
    page scrolled sideways as a whole, the overview's table too. The heatmap scrolls within its own box."""
    name = "model_" * 33  # 198 characters, a valid name
    for batch in range(20):  # 100 runs: a heatmap wider than the window
        seed_history(sqlite_store, name, batch=batch)
    width = browser.evaluate("window.innerWidth")
    for path in ("/models", f"/models/{name}", f"/models/{name}/decisions/1"):
        _show(browser, pages, path, tmp_path)
        assert name[:40] in browser.evaluate("document.body.innerText"), path
        wide = "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth)"
        assert browser.evaluate("document.documentElement.scrollWidth") <= width, browser.evaluate(
            f"{wide}.slice(0, 5).map(e => e.tagName + '.' + (e.className.baseVal ?? e.className) + ' ' + e.id)"
        )
    _show(browser, pages, f"/models/{name}", tmp_path)
    box = browser.evaluate(
        "(() => { const b = document.getElementById('drift-heatmap').parentElement;"
        " return [b.scrollWidth, b.clientWidth, getComputedStyle(b).overflowX]; })()"
    )
    assert box[0] > box[1] and box[2] == "auto", box  # the whole heatmap, scrolled within its box


#: A laptop window's width, in CSS pixels.
LAPTOP_WIDTH = 1000

#: The words of the element SELECTOR (outside a voter's name or a reason, which may break anywhere) that the page
#: shows split across lines.
BROKEN_WORDS_JS = """(() => {
const walker = document.createTreeWalker(document.querySelector(SELECTOR), NodeFilter.SHOW_TEXT);
const broken = [];
for (let node; (node = walker.nextNode());) {
    if (node.parentElement.closest('.who, .why')) continue;
    for (const m of node.data.matchAll(/\\S+/g)) {
        const r = document.createRange();
        r.setStart(node, m.index);
        r.setEnd(node, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].map(rect => Math.round(rect.top)));
        if (tops.size > 1) broken.push(m[0]);
    }
}
return broken;
})()"""


def test_the_approvals_table_breaks_no_word_at_a_laptops_width(
    browser: Browser, pages: TestClient, sqlite_store: StateStore, tmp_path: Path
) -> None:
    """The decision page's approvals table let every cell break anywhere, so the browser shrank its columns to a
    few letters at 1000 px: "Reques|t", "Prom|otion", "none begu|n". A header stays on one line and fits its
    column; a free-text reason still wraps."""
    from datetime import timedelta

    from airflow_provider_agentic_mlops.core.state import utcnow

    decision = sqlite_store.record_decision(
        "fraud-detector", mode="rules", final_action="retrain", decided_by="rules", dag_id=DAG, run_id="manual__3"
    )
    request, _ = sqlite_store.request_approval(
        "fraud-detector",
        "12",
        dag_id=DAG,
        run_id="manual__3",
        expires_at=utcnow() + timedelta(hours=1),
        required_approvals=2,
    )
    sqlite_store.decide_approval(request["id"], approve=True, user="alice.martin@example.com", via="slack")
    reason = (
        "Checked the validation report: ROC AUC up 0.012 on the holdout, no segment regressed beyond tolerance; "
        "fine to promote before the weekend freeze."
    )
    sqlite_store.decide_approval(request["id"], approve=True, user="bob.nguyen@example.com", via="ui", reason=reason)
    browser.send(
        "Emulation.setDeviceMetricsOverride", width=LAPTOP_WIDTH, height=900, deviceScaleFactor=1, mobile=False
    )
    try:
        _show(browser, pages, f"/models/fraud-detector/decisions/{decision}", tmp_path)
        headers = browser.evaluate(
            "[...document.querySelectorAll('#approvals th')].map(th => { const r = document.createRange();"
            " r.selectNodeContents(th); return {text: th.textContent, scroll: th.scrollWidth, client: th.clientWidth,"
            " lines: r.getClientRects().length}; })"
        )
        assert [h["text"] for h in headers] == ["Request", "Status", "Requested", "Votes", "Promotion"]
        for h in headers:
            assert h["scroll"] <= h["client"] and h["lines"] == 1, headers
        # no word of a cell split across lines ("none begu|n"), but in the free text that may break anywhere
        assert browser.evaluate(BROKEN_WORDS_JS.replace("SELECTOR", json.dumps("#approvals"))) == []
        assert "Request" in browser.evaluate("document.getElementById('approvals').innerText")
        assert browser.evaluate("document.documentElement.scrollWidth") <= LAPTOP_WIDTH
    finally:
        browser.send("Emulation.clearDeviceMetricsOverride")


#: The page Airflow's UI shows a plugin's external view in: an iframe sandboxed as Airflow 3 sandboxes it
#: (scripts and same origin, no ``allow-top-navigation``, so ``target="_top"`` alone is blocked).
AIRFLOW_VIEW = """<!doctype html><html><body><nav>Airflow's sidebar</nav>
<iframe sandbox="allow-scripts allow-same-origin allow-forms allow-downloads" src="{src}" title="Models"></iframe>
</body></html>"""


@pytest.fixture
def airflow_ui(pages: TestClient) -> Iterator[str]:
    """The plugin's app and a stand-in for Airflow's UI (a view page embedding it, a DAG page) served over
    HTTP on a free port, as one origin; its URL."""
    import socket
    import threading

    import uvicorn
    from fastapi.responses import HTMLResponse, Response

    ui = pages.app

    @ui.get("/plugin/{route}")
    def view(route: str, src: str) -> HTMLResponse:
        return HTMLResponse(AIRFLOW_VIEW.format(src=src))

    @ui.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)  # as Airflow's UI has one: no 404 among a test's console errors

    @ui.get("/dags/{dag_id}")
    def dag(dag_id: str) -> HTMLResponse:
        return HTMLResponse(f"<!doctype html><html><body><h1>Airflow: DAG {dag_id}</h1></body></html>")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(ui, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_link_to_airflows_dag_page_leaves_airflows_sandboxed_iframe(
    browser: Browser, airflow_ui: str, sqlite_store: StateStore
) -> None:
    """Airflow's iframe lacks allow-top-navigation, which blocks a bare target="_top": the link is followed by
    the top window, so the DAG opens in Airflow's UI itself, not in a second UI nested in the plugin's frame."""
    seed_history(sqlite_store)
    frame = "document.querySelector('iframe')"
    browser.open(f"{airflow_ui}/plugin/agentic-mlops-models?src=/agentic-mlops/models/fraud-detector")
    browser.wait_for(f"!!{frame}.contentDocument?.querySelector('a[target=_top]')", timeout=30)
    browser.evaluate(f"{frame}.contentDocument.querySelector('a[target=_top][href$=\"/dags/{DAG}\"]').click(); 0")
    browser.wait_for(f"location.pathname === '/dags/{DAG}'", timeout=10)
    assert browser.evaluate("document.querySelectorAll('iframe').length") == 0
    assert browser.evaluate("document.body.innerText") == f"Airflow: DAG {DAG}"


def test_a_report_link_on_the_approvals_page_opens_a_window_from_airflows_sandboxed_iframe(
    browser: Browser, airflow_ui: str, sqlite_store: StateStore
) -> None:
    """The approvals page opens a request's reports next to it (target="_blank"); Airflow's iframe has no
    allow-popups, which blocks such a link: the window is opened by the top window instead."""
    from tests.approval_data import request_approval

    request_approval(
        sqlite_store, model_name="fraud-detector", dag_id=DAG, details={"links": {"run": f"{airflow_ui}/dags/{DAG}"}}
    )
    frame = "document.querySelector('iframe')"
    browser.open(f"{airflow_ui}/plugin/agentic-mlops-approvals?src=/agentic-mlops/approvals")
    browser.wait_for(f"!!{frame}.contentDocument?.querySelector('a.report-link')", timeout=30)
    browser.send("Target.setDiscoverTargets", discover=True)
    click = f"{frame}.contentDocument.querySelector('a.report-link').click(); 0"
    browser.send("Runtime.evaluate", expression=click, userGesture=True)  # a person's click may open a window

    def opened() -> list[dict[str, Any]]:
        browser.evaluate("0")  # reads the events that arrived meanwhile
        infos = [e["params"]["targetInfo"] for e in browser.events if e["method"] == "Target.targetCreated"]
        return [i for i in infos if i["type"] == "page" and i.get("openerId")]

    deadline = time.monotonic() + 10
    while not opened() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert opened(), "no window was opened"
    assert [e for e in browser.events if "allow-popups" in json.dumps(e)] == []


@pytest.mark.parametrize("verb,status", [("approve", "approved"), ("deny", "denied")])
def test_a_decision_with_its_reason_is_made_inside_airflows_sandboxed_iframe(
    browser: Browser, airflow_ui: str, sqlite_store: StateStore, verb: str, status: str
) -> None:
    """Airflow's iframe has no allow-modals, so Chromium ignores window.prompt() (and confirm, alert) there: the
    page asks for the reason in a field of its own, and shows the outcome in the page. Nothing is stubbed."""
    from tests.approval_data import request_approval

    pending = request_approval(sqlite_store, model_name="fraud-detector", dag_id=DAG).approval["id"]
    frame = "document.querySelector('iframe').contentDocument"
    browser.open(f"{airflow_ui}/plugin/agentic-mlops-approvals?src=/agentic-mlops/approvals")
    browser.wait_for(f"!!{frame}?.querySelector('button[data-id=\"{pending}\"]')", timeout=30)
    browser.clear_events()
    field = f"{frame}.getElementById('reason-{pending}')"
    label = browser.evaluate(f"{frame}.querySelector('label[for=\"reason-{pending}\"]').textContent")
    assert "reason" in label.lower()
    browser.evaluate(f"{field}.focus(); 0")
    browser.send("Input.insertText", text=f"{verb} typed in the frame")
    browser.evaluate(f"{frame}.querySelector('button[data-id=\"{pending}\"][data-verb={verb}]').click(); 0")
    # the page reloads after the answer (the request moves to the history) and shows the answer again
    answer = browser.wait_for(
        f"{frame}?.readyState === 'complete' && {frame}.getElementById('request-{pending}') === null"
        f" && {frame}.getElementById('msg').textContent",
        timeout=30,
    )
    decided = sqlite_store.get_approval(pending)
    assert (decided["status"], decided["decided_via"], decided["reason"]) == (
        status,
        "ui",
        f"{verb} typed in the frame",
    )
    assert f"#{pending}" in answer and status in answer.lower()
    assert [e for e in browser.events if "sandboxed" in json.dumps(e)] == []
    assert browser.console_errors() == []


def test_a_refused_decision_is_shown_next_to_its_request_inside_airflows_sandboxed_iframe(
    browser: Browser, airflow_ui: str, sqlite_store: StateStore
) -> None:
    """An answer that records nothing (here: a reason longer than the server takes) is shown in the page, next to
    the request, which stays; no alert() (blocked in Airflow's iframe) is needed to see it."""
    from airflow_provider_agentic_mlops.core.approval_policy import MAX_REASON_CHARS
    from tests.approval_data import request_approval

    pending = request_approval(sqlite_store, model_name="fraud-detector", dag_id=DAG).approval["id"]
    frame = "document.querySelector('iframe').contentDocument"
    browser.open(f"{airflow_ui}/plugin/agentic-mlops-approvals?src=/agentic-mlops/approvals")
    browser.wait_for(f"!!{frame}?.querySelector('button[data-id=\"{pending}\"]')", timeout=30)
    too_long = "x" * (MAX_REASON_CHARS + 1)
    # set as a script sets it: a field's maxlength stops only typing
    browser.evaluate(f"{frame}.getElementById('reason-{pending}').value = {json.dumps(too_long)}; 0")
    button = f"{frame}.querySelector('button[data-id=\"{pending}\"][data-verb=approve]')"
    browser.evaluate(f"{button}.click(); 0")
    answer = browser.wait_for(
        f"!{button}.disabled && {frame}.getElementById('answer-{pending}').textContent", timeout=30
    )
    assert "characters" in answer
    assert sqlite_store.get_approval(pending)["status"] == "pending"
    assert browser.evaluate(f"{frame}.getElementById('request-{pending}') !== null")


#: A phone's width, in CSS pixels.
PHONE_WIDTH = 375


def test_at_a_phones_width_the_pages_do_not_scroll_sideways(
    browser: Browser, pages: TestClient, sqlite_store: StateStore, tmp_path: Path
) -> None:
    """The 760 px charts and the wide tables scrolled the whole page sideways on a narrow screen: the charts
    shrink to the width, a wide table scrolls within its own box."""
    from tests.approval_data import request_approval

    seeded = seed_history(sqlite_store)
    validation = {"champion_metrics": {"auc": 0.9, "f1": 0.5}, "challenger_metrics": {"auc": 0.95, "f1": 0.6}}
    request_approval(sqlite_store, model_name="fraud-detector", dag_id=DAG, details={"validation": validation})
    browser.send("Emulation.setDeviceMetricsOverride", width=PHONE_WIDTH, height=800, deviceScaleFactor=1, mobile=False)
    try:
        assert browser.evaluate("window.innerWidth") == PHONE_WIDTH
        paths = ("/models", "/models/fraud-detector", f"/models/fraud-detector/decisions/{seeded['decision_ids'][0]}")
        approved = f"/models/fraud-detector/decisions/{seeded['decision_ids'][2]}"  # its approval and votes
        for path in (*paths, approved, "/approvals"):
            _show(browser, pages, path, tmp_path)
            wide = "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth)"
            assert browser.evaluate("document.scrollingElement.scrollWidth") <= PHONE_WIDTH, browser.evaluate(
                f"{wide}.slice(0, 5).map(e => e.tagName + '.' + (e.className.baseVal ?? e.className) + ' ' + e.id)"
            )
        _show(browser, pages, "/models/fraud-detector", tmp_path)
        chart = browser.evaluate("document.getElementById('drift-chart').getBoundingClientRect().width")
        assert 0 < chart <= PHONE_WIDTH  # shrunk to the page, not cut off in a box
    finally:
        browser.send("Emulation.clearDeviceMetricsOverride")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ('"Asia/Kolkata"', r"\d{4}-\d\d-\d\d \d\d:\d\d GMT\+5:30"),  # chosen in Airflow's UI (its localStorage key)
        ('"UTC"', r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"),
        ('"Not/AZone"', r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"),  # a zone the browser does not know: UTC as served
        ("not json", r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"),
        (None, r"\d{4}-\d\d-\d\d \d\d:\d\d GMT\+5:30"),  # none chosen: the browser's zone, as Airflow's UI
    ],
)
def test_the_pages_show_times_in_the_zone_chosen_in_airflows_ui(
    browser: Browser, airflow_ui: str, sqlite_store: StateStore, stored: str | None, shown: str
) -> None:
    """Airflow's UI keeps the zone its user chose in localStorage (key ``timezone``, a JSON string), of the origin
    the plugin's iframe shares: the pages show their times in it, else in UTC as served."""
    import re
    from datetime import datetime, timedelta

    seed_history(sqlite_store)
    view = f"{airflow_ui}/plugin/agentic-mlops-models?src=/agentic-mlops/models/fraud-detector"
    browser.open(view)
    if stored is None:
        browser.send("Emulation.setTimezoneOverride", timezoneId="Asia/Kolkata")
    else:
        browser.evaluate(f"localStorage.setItem('timezone', {json.dumps(stored)})")
    try:
        browser.open(view)
        times = browser.wait_for(
            "(() => { const d = document.querySelector('iframe').contentDocument;"
            " const t = d ? [...d.querySelectorAll('time')] : [];"
            " return t.length && t.every(e => e.dataset.zone) ? t.map(e => [e.dateTime, e.textContent]) : null; })()",
            timeout=30,
        )
    finally:
        browser.evaluate("localStorage.removeItem('timezone')")
        browser.send("Emulation.setTimezoneOverride", timezoneId="")
    for instant, text in times:
        assert re.fullmatch(shown, text), (stored, instant, text)
    if stored in ('"Asia/Kolkata"', None):  # 5:30 ahead of the instant
        instant, text = times[0]
        utc = datetime.strptime(instant, "%Y-%m-%dT%H:%M:%SZ")
        assert text.startswith(f"{utc + timedelta(hours=5, minutes=30):%Y-%m-%d %H:%M}")
