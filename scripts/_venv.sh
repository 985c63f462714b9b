# Sourced by scripts/test and scripts/demo: make .venv (Python 3.10-3.12) and install the provider
# into it, again only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
  python=""
  for candidate in ${PYTHON:-} python3.12 python3.11 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "Python 3.10, 3.11 or 3.12 is needed (Airflow 3 and the provider support those); set PYTHON=/path/to/python" >&2
    exit 1
  fi
  echo "Creating .venv with $python ..."
  "$python" -m venv .venv
fi

stamp=.venv/.agentic-mlops-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing the provider and its dependencies into .venv (a few minutes the first time) ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi
