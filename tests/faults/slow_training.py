"""A training callable that never finishes (the fault tests kill the process running it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def train_forever(*, conf: dict[str, Any], **_: Any) -> dict[str, Any]:
    Path(conf["started_flag"]).write_text("training")
    while True:
        time.sleep(1)
