#!/usr/bin/env bash
# Install medcite, index the bundled sample corpus, and serve the chat at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export HF_HUB_OFFLINE=1
# The index goes to $MEDCITE_INDEX, or ~/.local/share/medcite/index (see `medcite info`).
echo "indexing the bundled sample (the first run embeds about 3,000 passages and 22,000 sentences, about four minutes on 2 cores; later runs reuse them)"
.venv/bin/medcite ingest quickstart/corpus.jsonl
echo "serving the chat at http://127.0.0.1:8000 (Ctrl-C to stop)"
exec .venv/bin/medcite serve --host 127.0.0.1 --port 8000
