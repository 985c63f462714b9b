"""``scripts/screenshots``: PNGs of the overview, the model page and the approvals page from a demo run.

The demo as a user runs it: ``./scripts/demo --port P``; its first run retrains and asks for approval
(approvals.png); approved on the page, it promotes; then ``./scripts/demo --shift`` injects a new
shift, whose run comes within the retrain cooldown and escalates; then overview.png and model.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from tests.browser.cdp import Browser, find_chromium
from tests.browser.demo_process import start_demo, stop_demo
from tests.conftest import REPO

DAG_ID = "agentic_mlops__fraud-detector"


def shrink(path: Path) -> None:
    """Rewrite the PNG with a 256-colour palette (the pages are flat colours and text, so it looks
    the same at a fraction of the size); left as it is without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


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
        demo = start_demo(Path(home), rows=5000)  # the demo's own default, so the pages show what a user sees
        browser = Browser(binary, width=1280, height=900)
        try:

            def shoot(path: str, name: str) -> None:
                browser.open(f"{demo.url}/auth/token/login?next={quote(demo.url + path, safe='')}")
                browser.screenshot(args.out / name)
                shrink(args.out / name)
                print(f"  {args.out / name} ({(args.out / name).stat().st_size // 1024} KB)", flush=True)

            shoot("/agentic-mlops/approvals", "approvals.png")
            pending = demo.store().list_approvals(status="pending")[0]
            browser.evaluate(
                f"document.getElementById('reason-{pending['id']}').value = 'validation report and drift look right'; 0"
            )
            browser.evaluate(
                f"document.querySelector('button[data-id=\"{pending['id']}\"][data-verb=approve]').click()"
            )
            demo.wait_until(
                lambda: any(e["action"] == "promoted" for e in demo.store().audit_trail("fraud-detector")),
                600,
                "promotion",
            )
            # the demo's second act: a new shift (as a user injects it), within the retrain cooldown
            print("Promoted. Injecting a new shift (demo --shift) and waiting for its run ...", flush=True)
            subprocess.run(  # no --port: --shift finds the running demo's
                [str(REPO / "scripts" / "demo"), "--airflow-home", str(demo.home), "--shift"],
                check=True,
                stdout=subprocess.DEVNULL,
            )

            def second_decision() -> dict | None:
                decisions = demo.store().list_decisions("fraud-detector")  # newest first
                return decisions[0] if len(decisions) >= 2 else None

            second = demo.wait_until(second_decision, 600, "the second run's decision")
            runs = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(second['run_id'], safe='')}"
            demo.wait_until(
                lambda: browser.evaluate(
                    f"fetch({json.dumps(runs)}).then(r => r.json()).then(r => r.end_date)", await_promise=True
                ),
                600,
                "the second run to end",
            )
            shoot("/agentic-mlops/models", "overview.png")
            shoot("/agentic-mlops/models/fraud-detector", "model.png")
        finally:
            browser.close()
            stop_demo(demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
