#!/usr/bin/env bash
# Install medcite with its test tools (and, when running as root, Debian's chromium for the
# browser tests and its postgresql server, which the PostgreSQL tests start a throwaway copy
# of), then run the linters, the type checker and every test, slow, browser and PostgreSQL
# tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
MEDCITE_EXTRAS="[test]" source scripts/setup.sh
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's ${missing[*]} for the browser and PostgreSQL tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export HF_HUB_OFFLINE=1
# A real-model or PostgreSQL test that skips fails the run (tests/conftest.py).
export MEDCITE_REQUIRE_SLOW=1
.venv/bin/ruff format --check ingest index chat web medcite tests bench scripts
.venv/bin/ruff check ingest index chat web medcite tests bench scripts
.venv/bin/mypy
# Exit code 5 (no tests collected) fails this script like any other failure.
.venv/bin/python -m pytest -q "$@"
