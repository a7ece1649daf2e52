#!/usr/bin/env bash
# Main job: set up .venv, build the HTML book (executing the notebooks), print where it is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
jupyter-book build . --toc book/_toc.yml --config _config.yml "$@"
echo
echo "The book is at: $ROOT/_build/html/index.html"
