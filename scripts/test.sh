#!/usr/bin/env bash
# Tests: pytest for lenet (with the translation check: nothing untranslated, fuzzy or out of
# date), nbval over every notebook, a strict build of both editions (-W -n --keep-going; a
# notebook execution error fails it), then the built pages of both checked in headless
# Chromium (installed from Debian by the check itself when missing).
#
# The stages share the machine instead of taking turns. pytest runs two pytest-xdist
# workers; nbval and the Chinese build each run every notebook, in their own process and in
# the project's kernel (the venv's python3, found first via JUPYTER_PATH; see
# scripts/kernel_spec.py). nbval stores each notebook that passes, with the outputs it just
# produced, in the English build's execution cache (scripts/nbval_cache.py), and the English
# build starts when nbval ends: it takes those outputs instead of running the notebooks a
# third time, and runs any notebook that nbval did not pass itself, so a notebook that
# raises still fails it. The browser check starts as soon as both builds are done. pytest,
# which ends well before the browser check can start, runs at a lower priority (nice), so
# that the builds on the way to it go first.
# A notebook pins its own thread count, so its numbers do not depend on what else runs; idle
# OpenMP threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE, set by env.sh), so that
# processes sharing the cores do not slow each other down.
# Each stage writes a log in _build/logs/, printed in stage order when the stage ends; the
# first failure is reported after every stage has finished.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
LOGS="$ROOT/_build/logs"
mkdir -p "$LOGS"
START=$SECONDS
declare -A PID STATUS

start() {   # start NAME COMMAND...: run COMMAND in the background, output to $LOGS/NAME.log
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  PID[$name]=$!
}

finish() {  # finish NAME TITLE: wait for NAME, print its log and how it ended
  local name=$1 title=$2 status=0
  wait "${PID[$name]}" || status=$?
  STATUS[$name]=$status
  echo "==> $title"
  cat "$LOGS/$name.log"
  echo "    ($name: $([ "$status" -eq 0 ] && echo passed || echo "FAILED, exit $status");" \
       "$(( SECONDS - START )) s since the start; log: $LOGS/$name.log)"
}

echo "==> running stages 1-3 side by side (logs in $LOGS), then stage 4"
start pytest nice -n 10 python -m pytest tests -q -p no:cacheprovider -n 2 --durations=25
start nbval env PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" \
    python -m pytest --nbval --nbval-kernel-name python3 --nbval-cell-timeout=600 -q \
    --nbval-sanitize-with "$ROOT/scripts/nbval_sanitize.cfg" -p no:cacheprovider -p nbval_cache --nbval-cache-into "$ROOT/_build/.jupyter_cache" notebooks
start build_zh_CN python scripts/i18n.py build --strict

finish nbval "2/4 nbval (every notebook, outputs compared strictly)"
start build_en python scripts/strict_build.py
finish build_en "3/4 strict book build (English)"
finish build_zh_CN "3/4 strict book build (the Chinese edition, into _build/html/zh_CN)"
if [ "${STATUS[build_en]}" -eq 0 ] && [ "${STATUS[build_zh_CN]}" -eq 0 ]; then
  start browser python scripts/browser_check.py _build/html --screenshots _build/screenshots
else
  start browser bash -c 'echo "not run: a build failed"; exit 1'
fi
finish pytest "1/4 pytest (lenet)"
finish browser "4/4 browser check (every built page of both editions, offline, in headless Chromium)"

FAILED=""
for name in pytest nbval build_en build_zh_CN browser; do
  [ "${STATUS[$name]}" -eq 0 ] || FAILED="$FAILED $name"
done
if [ -n "$FAILED" ]; then
  echo "tests: FAILED:$FAILED ($(( SECONDS - START )) s)"
  exit 1
fi
echo "tests: all four stages passed in $(( SECONDS - START )) s"
