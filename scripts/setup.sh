#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: virtual environment, Python packages, jars from Maven Central.
# Each step is skipped when it is already done. --quiet prints only what it actually does.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUIET=0; [[ "${1:-}" == "--quiet" ]] && QUIET=1
say() { echo "[setup] $*"; }
note() { [[ $QUIET == 1 ]] || say "$@"; }
cd "$ROOT"

PYTHON="${LAKEPULSE_PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
[[ -n "$PYTHON" ]] || { echo "setup: Python 3.11 is required (set LAKEPULSE_PYTHON)" >&2; exit 1; }
command -v java >/dev/null || [[ -n "${JAVA_HOME:-}" ]] || { echo "setup: Java 17 is required" >&2; exit 1; }
command -v mvn >/dev/null || { echo "setup: Maven (mvn) is required to fetch jars from Maven Central" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  say "creating the virtual environment .venv with $PYTHON"
  "$PYTHON" -m venv .venv
else
  note "virtual environment .venv exists"
fi

STAMP=.venv/.lakepulse-installed
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  say "installing Python packages (pip install -e '.[dev]')"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$WANT" > "$STAMP"
else
  note "Python packages are installed (pyproject.toml unchanged)"
fi

# Fetches only what is missing or changed; prints a line per bundle.
if [[ $QUIET == 1 ]]; then
  .venv/bin/python -m lakepulse.jars >/dev/null
else
  .venv/bin/python -m lakepulse.jars | sed 's/^\[lakepulse\]/[setup]/'
fi
