#!/usr/bin/env bash
# Main job: set up .venv, build the HTML book (executing the notebooks), print where it is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# _config.yml plus what follows from the repository's address (none: no repository buttons)
CONFIG="$(python scripts/site_config.py)"
jupyter-book build . --toc book/_toc.yml --config "$CONFIG" "$@"
echo
echo "The book is at: $ROOT/_build/html/index.html"
