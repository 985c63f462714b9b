"""``scripts/screenshots``: PNGs of the overview, the model page and the approvals page from a demo run."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from tests.browser.cdp import Browser, find_chromium
from tests.browser.demo_process import start_demo, stop_demo
from tests.conftest import REPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNGs (default docs/)")
    args = parser.parse_args(argv)
    binary = find_chromium()
    if binary is None:
        sys.exit("Chromium is not installed: apt-get install -y chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agentic-mlops-screenshots-") as home:
        print("Starting the demo and running its loop up to the approval (a few minutes) ...", flush=True)
        demo = start_demo(Path(home))
        browser = Browser(binary, width=1280, height=900)
        try:

            def shoot(path: str, name: str) -> None:
                browser.open(f"{demo.url}/auth/token/login?next={quote(demo.url + path, safe='')}")
                browser.screenshot(args.out / name)
                print(f"  {args.out / name}", flush=True)

            shoot("/agentic-mlops/approvals", "approvals.png")
            pending = demo.store().list_approvals(status="pending")[0]
            browser.evaluate("window.prompt = () => 'validation report and drift look right'")
            browser.evaluate(
                f"document.querySelector('button[data-id=\"{pending['id']}\"][data-verb=approve]').click()"
            )
            demo.wait_until(
                lambda: any(e["action"] == "promoted" for e in demo.store().audit_trail("fraud-detector")),
                600,
                "promotion",
            )
            shoot("/agentic-mlops/models", "overview.png")
            shoot("/agentic-mlops/models/fraud-detector", "model.png")
        finally:
            browser.close()
            stop_demo(demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
