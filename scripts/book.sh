#!/usr/bin/env bash
# Main job: set up .venv, build the HTML book (executing the notebooks) in English at the
# root of _build/html and in Chinese under _build/html/zh_CN/, print where it is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# _config.yml plus what follows from the repository's address (none: no repository buttons)
CONFIG="$(python scripts/site_config.py)"
jupyter-book build . --toc book/_toc.yml --config "$CONFIG" "$@"
# the Chinese edition: the same sources and outputs, the translations in locales/zh_CN
python scripts/i18n.py build
echo
echo "The Chinese edition is at: $ROOT/_build/html/zh_CN/index.html"
echo "The book is at: $ROOT/_build/html/index.html"
