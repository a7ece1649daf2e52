#!/usr/bin/env bash
# Tests: pytest for lenet, nbval over every notebook, then a strict book build
# (-W -n --keep-going; a notebook execution error fails it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"

echo "==> 1/3 pytest (lenet)"
python -m pytest tests -q -p no:cacheprovider

echo "==> 2/3 nbval (every notebook, outputs compared strictly)"
python -m pytest --nbval --nbval-current-env --nbval-cell-timeout=600 -q -p no:cacheprovider notebooks

echo "==> 3/3 strict book build"
python scripts/strict_build.py
echo "tests: all three stages passed"
