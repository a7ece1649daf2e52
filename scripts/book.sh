#!/usr/bin/env bash
# Main job: set up .venv, build the HTML book (executing the notebooks) in English at the
# root of _build/html and in Chinese under _build/html/zh_CN/, print where it is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# _config.yml plus what follows from the repository's address (none: no repository buttons)
CONFIG="$(python scripts/site_config.py)"
# The Chinese edition (the same sources and outputs, the translations in locales/zh_CN) builds
# beside the English one, each running the notebooks in its own process; its log is printed
# when it is done.
mkdir -p _build/logs
python scripts/i18n.py build >_build/logs/book_zh_CN.log 2>&1 &
ZH=$!
EN_STATUS=0
jupyter-book build . --toc book/_toc.yml --config "$CONFIG" "$@" || EN_STATUS=$?
ZH_STATUS=0
wait $ZH || ZH_STATUS=$?
echo "==> the Chinese edition's build (log: _build/logs/book_zh_CN.log)"
cat _build/logs/book_zh_CN.log
if [ "$EN_STATUS" -ne 0 ] || [ "$ZH_STATUS" -ne 0 ]; then
  echo "book: FAILED (English build exit $EN_STATUS, Chinese build exit $ZH_STATUS)"
  exit 1
fi
echo
echo "The Chinese edition is at: $ROOT/_build/html/zh_CN/index.html"
echo "The book is at: $ROOT/_build/html/index.html"
