"""Alert-to-approval-request latency on a real Airflow deployment (the e2e test's deployment).

Starts Airflow's scheduler, dag-processor, api-server and triggerer (plus a Celery worker on
PostgreSQL + Redis, or LocalExecutor on SQLite, chosen like the e2e test; force one with
``--executor``), a real MLflow server and the Slack and OpenAI test doubles, then posts one
Alertmanager alert and measures the seconds until the approval request with its buttons reaches
the Slack double: drift check, LLM decision, a trivial training job (1000 rows), validation, the
approval request. Denies it so the run ends, tears everything down, and prints ``seconds=<x>`` last.

    python benchmarks/e2e_latency.py [--executor auto|local|celery]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.deployment import alertmanager_payload, start_deployment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=["auto", "local", "celery"], default="auto")
    args = parser.parse_args()
    choice = {"auto": None, "local": False, "celery": True}[args.executor]
    with tempfile.TemporaryDirectory(prefix="agentic-mlops-e2e-") as tmp:
        began = time.monotonic()
        deployment = start_deployment(Path(tmp), postgres_celery=choice)
        try:
            up = time.monotonic() - began
            started = time.monotonic()
            status, answer = deployment.post_alert(alertmanager_payload())
            if status != 201:
                raise SystemExit(f"the alert was not accepted: HTTP {status} {answer}")
            run_id = answer["results"][0]["run_id"]
            approval_id, call = deployment.wait_until(
                lambda: next(iter(deployment.approval_requests()), None), 600, "the approval request", 0.1
            )
            seconds = time.monotonic() - started
            deployment.click(approval_id, call, approve=False)
            deployment.wait_for_run_to_finish(run_id)
        except BaseException:
            print(deployment.log_tails(), file=sys.stderr)
            raise
        finally:
            deployment.stop()
        print(f"deployment={deployment.kind}")
        print(f"startup_seconds={up:.1f}")
        print(f"total_seconds={time.monotonic() - began:.1f}")
        print(f"seconds={seconds:.2f}")


if __name__ == "__main__":
    main()
