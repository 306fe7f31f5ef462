#!/usr/bin/env bash
# Install medcite with its test tools (and Debian's chromium for the browser tests, when
# running as root), then run the linters, the type checker and every test, slow and browser
# tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
MEDCITE_EXTRAS="[test]" source scripts/setup.sh
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export HF_HUB_OFFLINE=1
# A real-model test that skips fails the run (tests/conftest.py).
export MEDCITE_REQUIRE_SLOW=1
.venv/bin/ruff format --check ingest index chat web medcite tests bench scripts
.venv/bin/ruff check ingest index chat web medcite tests bench scripts
.venv/bin/mypy
# Exit code 5 (no tests collected) fails this script like any other failure.
.venv/bin/python -m pytest -q "$@"
