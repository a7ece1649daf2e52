# Activate the project's environment in your own shell:   source scripts/activate.sh
#
# Safe to source: it never changes your shell's options (no `set -e`, so a failing command
# does not close your terminal). It does what scripts/env.sh exports for the scripts:
# the .venv's bin on PATH (as .venv/bin/activate does), JUPYTER_PATH pointing at the
# project's own python3 kernel, PYTHONHASHSEED=0, and LENET_DATA when an offline copy of
# the data sits beside the repository. It creates nothing: run `bash scripts/book.sh` once
# first. (scripts/env.sh is the strict set-up the scripts themselves use.)

_lenet_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
if [ ! -f "$_lenet_root/.venv/bin/activate" ]; then
  echo "no environment in $_lenet_root/.venv yet: run 'bash scripts/book.sh' first" >&2
else
  # shellcheck disable=SC1091
  . "$_lenet_root/.venv/bin/activate"
  export JUPYTER_PATH="$_lenet_root/.venv/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
  export PYTHONHASHSEED=0
  if [ -z "${LENET_DATA:-}" ] && [ -d "$_lenet_root/../shared/datasets/MNIST" ]; then
    LENET_DATA="$(cd "$_lenet_root/../shared/datasets" && pwd)"
    export LENET_DATA
  fi
  echo "lenet environment active ($_lenet_root/.venv); 'deactivate' leaves it"
fi
unset _lenet_root
