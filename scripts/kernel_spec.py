"""Make the project's Jupyter kernel start and stop faster.

    python scripts/kernel_spec.py .venv/share/jupyter/kernels/python3/kernel.json

Every notebook run (nbval, each edition's build, the benchmark) starts a kernel and shuts it
down, so two fixed costs add up over the chapters:

* **Start: the debugger.** ipykernel imports ``debugpy`` at start whenever it is installed,
  for JupyterLab's visual debugger: about 0.5 s of a 1.1 s start, which nothing that executes
  notebooks uses. The project's kernel starts through :data:`LAUNCH`, which hides ``debugpy``
  from that import (a ``None`` entry in ``sys.modules`` makes it raise ``ImportError``, the
  case ipykernel handles by running without a debugger), unless ``LENET_KERNEL_DEBUGGER`` is
  set to a non-empty value in the environment Jupyter starts from. Otherwise it does what
  ``python -m ipykernel_launcher`` does: drop the current directory from the front of
  ``sys.path`` and launch the kernel application.
* **Exit: garbage collection.** When a Python process ends, it collects its garbage several
  times while it takes its modules apart. With torch loaded, each pass walks some 200,000
  objects: a kernel that ran a chapter took about 1.8 s to shut down after its last cell.
  Freezing the garbage collector's objects at exit (``gc.freeze()`` from an ``atexit``
  handler, registered when the kernel starts: :data:`FAST_EXIT`) leaves those passes
  nothing to walk: about 0.55 s. ``atexit`` handlers registered later, such as those that
  remove temporary files, still run first, and objects are still freed by reference
  counting; only objects kept alive by reference cycles are left to the operating system,
  which reclaims the whole process anyway. The handler is registered by an
  ``IPKernelApp.exec_lines`` option; it runs without storing history, so execution counts
  still start at 1, and it binds no name in the notebook's namespace.

Rewriting the spec is idempotent, and an older spec of this project is brought up to date.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

#: Registers gc.freeze at exit without binding a name in the kernel's namespace.
FAST_EXIT = ('--IPKernelApp.exec_lines='
             '__import__("atexit").register(__import__("gc").freeze)')

#: The environment variable that keeps the debugger (JupyterLab's visual debugger) on.
DEBUGGER_VARIABLE = "LENET_KERNEL_DEBUGGER"

#: ``python -m ipykernel_launcher``, with ``debugpy`` hidden unless DEBUGGER_VARIABLE is set.
LAUNCH = f"""\
import os, sys
if not os.environ.get("{DEBUGGER_VARIABLE}"):
    sys.modules["debugpy"] = None
if sys.path and sys.path[0] == "":
    del sys.path[0]
from ipykernel.kernelapp import launch_new_instance
launch_new_instance()
"""


def installed_argv(python: str) -> list[str]:
    """The ``argv`` that ``python -m ipykernel install`` writes for the interpreter
    ``python`` (Python 3.11 or later, where it turns frozen modules off for the debugger)."""
    return [python, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f",
            "{connection_file}"]


def project_argv(argv: list[str]) -> list[str]:
    """The kernel's ``argv`` with ``-m ipykernel_launcher`` (or an older :data:`LAUNCH`)
    replaced by ``-c LAUNCH``, and :data:`FAST_EXIT` once, before ``-f {connection_file}``.
    Other options (``-Xfrozen_modules=off``, which the debugger wants) are kept."""
    argv = list(argv)
    for at, (flag, value) in enumerate(zip(argv[:-1], argv[1:])):
        if (flag, value) == ("-m", "ipykernel_launcher") or (
                flag == "-c" and "launch_new_instance()" in value):
            argv[at:at + 2] = ["-c", LAUNCH]
            break
    else:
        raise ValueError(f"argv: no '-m ipykernel_launcher' to replace in {argv}")
    if FAST_EXIT not in argv:
        at = argv.index("-f") if "-f" in argv else len(argv)
        argv[at:at] = [FAST_EXIT]
    return argv


def main(path: str) -> None:
    spec_path = Path(path)
    spec = json.loads(spec_path.read_text())
    argv = project_argv(spec["argv"])
    if argv == spec["argv"]:
        return
    spec["argv"] = argv
    fd, tmp = tempfile.mkstemp(dir=spec_path.parent, suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f, indent=1)
    os.replace(tmp, spec_path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {sys.argv[0]} KERNEL_JSON")
    main(sys.argv[1])
