"""Fail when installing the provider lowered or removed a package the base install had.

Usage: python scripts/compat_no_downgrade.py BEFORE_FREEZE AFTER_FREEZE [KNOWN ...]
(freeze files are ``pip freeze --all`` output). Prints what changed: downgrades and removals fail;
upgrades and additions are listed for the record. KNOWN names packages whose downgrade is a known
upstream cap (scripts/compat passes ``cachetools`` and ``importlib-metadata``, which every
mlflow-skinny 3.x caps below the versions Airflow 3.1+ resolves to today): still printed, as KNOWN, but
not failing.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

from packaging.version import InvalidVersion, Version


def parse_freeze(text: str) -> dict[str, str]:
    """``{normalised name: version}`` of ``name==version`` lines (editable/URL lines are ignored)."""
    pins = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name and not name.startswith("#"):
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def compare(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """(problems, notes): downgraded or removed packages; upgraded or added ones."""
    problems, notes = [], []
    for name, old in sorted(before.items()):
        new = after.get(name)
        if new is None:
            problems.append(f"removed   {name} {old}")
            continue
        try:
            lower, higher = Version(new) < Version(old), Version(new) > Version(old)
        except InvalidVersion:
            lower, higher = new != old, False
        if lower:
            problems.append(f"DOWNGRADE {name} {old} -> {new}")
        elif higher:
            notes.append(f"upgraded  {name} {old} -> {new}")
    notes += [f"added     {name} {after[name]}" for name in sorted(set(after) - set(before))]
    return problems, notes


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = (parse_freeze(Path(path).read_text()) for path in argv[:2])
    known = {re.sub(r"[-_.]+", "-", name).lower() for name in argv[2:]}
    problems, notes = compare(before, after)
    tolerated = [p for p in problems if p.split()[1] in known]
    problems = [p for p in problems if p not in tolerated]
    for line in tolerated:
        print(f"   KNOWN {line} (a known upstream cap, tolerated: see known_downgrades_latest in scripts/compat)")
    upgraded = [n for n in notes if n.startswith("upgraded")]
    added = len(notes) - len(upgraded)
    for line in upgraded:
        print(f"   {line}")
    print(f"   {added} package(s) added, {len(upgraded)} upgraded, {len(problems)} downgraded or removed")
    if added:
        print(
            textwrap.fill(
                ", ".join(n.split(None, 1)[1] for n in notes if n.startswith("added")),
                100,
                initial_indent="   added: ",
                subsequent_indent="     ",
            )
        )
    for line in problems:
        print(f"   {line}")
    if problems:
        print("   installing the provider changed versions the Airflow install had (see above)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
