"""The browser tests' fixtures: headless Chromium, and the demo started the way a user starts it
(``airflow agentic-mlops demo --port P``, on a free port) with the loop run up to its approval."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.cdp import Browser, find_chromium
from tests.browser.demo_process import Demo, start_demo, stop_demo
from tests.conftest import ON_CI


def require_chromium() -> str:
    binary = find_chromium()
    if binary:
        return binary
    message = "Chromium is not installed (apt-get install -y chromium); the browser tests need it"
    if ON_CI:
        pytest.fail(f"{message} (CI=true: a missing browser is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chrome = Browser(require_chromium())
    yield chrome
    chrome.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``airflow agentic-mlops demo --port P`` in a fresh AIRFLOW_HOME, waited on until its first run
    asks for approval (so every task before it ran against the execution API on port P)."""
    require_chromium()  # no browser: do not spend minutes starting Airflow
    running = start_demo(tmp_path_factory.mktemp("demo-home"))
    try:
        yield running
    finally:
        stop_demo(running)
