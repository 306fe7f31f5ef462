# Shared by quickstart.sh and test.sh: a venv in .venv with medcite installed, with the extras
# in MEDCITE_EXTRAS (test.sh: "[test]"; "[postgres]" adds the PostgreSQL driver for serving).
# CPU torch is pinned in the same pip command as sentence-transformers (via pyproject),
# so pip never pulls the multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${MEDCITE_EXTRAS:-}"
