# Sourced by scripts/test and scripts/demo: make .venv (Python 3.10-3.13) and install the provider
# (editable) with the `dev` dependency group, again only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
  python=""
  for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 13)))' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "Python 3.10 to 3.13 is needed (the versions Airflow 3 supports); set PYTHON=/path/to/python" >&2
    exit 1
  fi
  echo "Creating .venv with $python ..."
  "$python" -m venv .venv
fi

stamp=.venv/.agentic-mlops-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing the provider and its dev dependency group into .venv (a few minutes the first time) ..."
  # dependency groups (PEP 735, [dependency-groups] in pyproject.toml) need pip >= 25.1
  .venv/bin/python -m pip install --quiet --upgrade 'pip>=25.1'
  .venv/bin/python -m pip install --quiet -e . --group dev
  echo "$want" > "$stamp"
fi
