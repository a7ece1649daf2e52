#!/usr/bin/env bash
# Tests: pytest for lenet (with the translation check: nothing untranslated, fuzzy or out of
# date), nbval over every notebook, a strict build of both editions (-W -n --keep-going; a
# notebook execution error fails it), then the built pages of both checked in headless
# Chromium (installed from Debian by the check itself when missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"

echo "==> 1/4 pytest (lenet)"
python -m pytest tests -q -p no:cacheprovider

echo "==> 2/4 nbval (every notebook, outputs compared strictly)"
python -m pytest --nbval --nbval-current-env --nbval-cell-timeout=600 -q -p no:cacheprovider notebooks

echo "==> 3/4 strict book build (English, then the Chinese edition into _build/html/zh_CN)"
python scripts/strict_build.py
python scripts/i18n.py build --strict

echo "==> 4/4 browser check (every built page of both editions, offline, in headless Chromium)"
python scripts/browser_check.py _build/html --screenshots _build/screenshots
echo "tests: all four stages passed"
