#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv (idempotent).
# Sourced by scripts/book.sh and scripts/test.sh; it exports PATH, JUPYTER_PATH and
# LENET_DATA (when the offline copy of MNIST sits in ../shared/datasets).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
fi
# pip installs without compiling bytecode (--no-compile): most of the 15,000 Python files it
# unpacks (torch's above all) are never imported here, and compiling them all takes longer
# than the rest of the install after the download. Bytecode is written instead as modules are
# first imported, so this environment writes it even where PYTHONDONTWRITEBYTECODE is set;
# one warm-up import right after the install compiles what every stage imports.
unset PYTHONDONTWRITEBYTECODE
# Reinstall only when requirements.txt or pyproject.toml changed since the last install.
STAMP="$VENV/.lenet-installed"
WANT="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "==> installing requirements into $VENV (torch is large: a few minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --no-compile -r "$ROOT/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --no-compile --no-deps "d2l==1.0.3"
  "$VENV/bin/python" -m pip install --quiet --no-compile --no-deps -e "$ROOT"
  "$VENV/bin/python" -c "import torch, torchvision, matplotlib.pyplot, pandas, scipy.signal, \
sphinx.application, jupyter_book.cli.main, myst_nb, ipykernel.kernelapp, nbval, d2l.torch"
  # A kernel named python3 that runs this venv's interpreter, found first via JUPYTER_PATH,
  # so notebooks never execute in whatever other python3 kernel a machine happens to have.
  "$VENV/bin/python" -m ipykernel install --prefix "$VENV" --name python3 \
      --display-name "Python 3 (lenet)" >/dev/null
  echo "$WANT" >"$STAMP"
fi
# The kernel starts without the debugger (0.5 s; LENET_KERNEL_DEBUGGER=1 keeps it) and skips
# the garbage collection that slows its exit (1.2 s per notebook run; see
# scripts/kernel_spec.py). Idempotent, so an existing .venv gets it too.
"$VENV/bin/python" "$ROOT/scripts/kernel_spec.py" \
    "$VENV/share/jupyter/kernels/python3/kernel.json"

export PATH="$VENV/bin:$PATH"
export JUPYTER_PATH="$VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export PYTHONHASHSEED=0
# book.sh and test.sh run several processes side by side on the same cores: idle OpenMP
# threads sleep instead of spinning, so that they do not slow each other down.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
if [ -z "${LENET_DATA:-}" ] && [ -d "$ROOT/../shared/datasets/MNIST" ]; then
  export LENET_DATA="$(cd "$ROOT/../shared/datasets" && pwd)"
fi
if [ -n "${LENET_DATA:-}" ]; then
  echo "==> data root: LENET_DATA=$LENET_DATA"
else
  echo "==> data root: not set (torchvision downloads into ~/.cache/lenet, else the embedded subset)"
fi
