"""A small client for headless Chromium over the DevTools protocol (no Selenium, no chromedriver).

Starts ``chromium --headless`` on a free debugging port, opens one page, and offers what the browser
tests need: navigate and wait for load, evaluate JavaScript, click, take a screenshot, and collect
console errors and uncaught exceptions. Uses ``websockets`` (already installed with Airflow).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page.

    :param binary: the Chromium executable.
    :param width: viewport width in pixels (screenshots).
    :param height: viewport height in pixels.
    """

    def __init__(self, binary: str, *, width: int = 1280, height: int = 900) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="cdp-profile-")
        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its renderer and GPU processes go with it in close()
        )
        endpoint = self._devtools_endpoint()
        port = re.search(r":(\d+)/", endpoint).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [t for t in json.load(response) if t["type"] == "page"]
        from websockets.sync.client import connect

        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def _devtools_endpoint(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        assert self.process.stderr is not None
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                return match.group(1)
        raise RuntimeError(f"chromium did not start (exit code {self.process.poll()})")

    def send(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events seen meanwhile are kept in ``events``)."""
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message
        raise TimeoutError(f"no {method} within {timeout} s")

    def open(self, url: str, timeout: float = 60) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise RuntimeError(f"could not open {url}: {result['errorText']}")
        self.wait_for_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 120, interval: float = 0.2) -> Any:
        """The value of ``expression`` once it is truthy; the page may reload meanwhile (an evaluation
        that lands while the document is replaced counts as not yet)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{expression!r} stayed false for {timeout} s")

    def status_of(self, url: str) -> int:
        """HTTP status of a same-origin GET from the page (with its cookies)."""
        return int(
            self.evaluate(
                f"fetch({json.dumps(url)}, {{credentials: 'same-origin'}}).then(r => r.status)", await_promise=True
            )
        )

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        errors = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                errors.append(str(p.get("exceptionDetails", {}).get("text")))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") == "error":
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                if _late_favicon_of_a_stopped_server(p["entry"]):
                    continue
                errors.append(f"{p['entry'].get('text')} ({p['entry'].get('url')})")
        return errors

    def clear_events(self) -> None:
        self.events = []

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page, as tall as its content (not the window) and at most 4000 px."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        content = self.evaluate("Math.ceil(document.body.getBoundingClientRect().bottom) + 16")
        height = min(size["height"], content or size["height"], 4000)
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": height, "scale": 1},
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            import os
            import signal

            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(timeout=10)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
            shutil.rmtree(self._profile.name, ignore_errors=True)


def _late_favicon_of_a_stopped_server(entry: dict[str, Any]) -> bool:
    """Chromium fetches a page's favicon by itself, after the page: with one browser for the session, the
    favicon request of an earlier test's page can land after that test stopped its server (connection
    refused) and show up among the next test's events. No page asks for it, and the page under test is
    being served, so its own favicon is never refused."""
    return str(entry.get("url", "")).endswith("/favicon.ico") and "ERR_CONNECTION_REFUSED" in str(entry.get("text"))
