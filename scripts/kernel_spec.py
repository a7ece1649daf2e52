"""Make the project's Jupyter kernel skip the garbage collection that slows its exit.

    python scripts/kernel_spec.py .venv/share/jupyter/kernels/python3/kernel.json

When a Python process ends, it collects its garbage several times while it takes its modules
apart. With torch loaded, each pass walks some 200,000 objects: a kernel that ran a chapter
took about 1.8 s to shut down after its last cell, and every notebook run (nbval, each
edition's build) waits for that. Freezing the garbage collector's objects at exit
(``gc.freeze()`` from an ``atexit`` handler, registered when the kernel starts) leaves those
passes nothing to walk: about 0.55 s. ``atexit`` handlers registered later, such as those
that remove temporary files, still run first, and objects are still freed by reference
counting; only objects kept alive by reference cycles are left to the operating system,
which reclaims the whole process anyway.

The handler is registered by an ``IPKernelApp.exec_lines`` option on the kernel's command
line. It runs without storing history, so execution counts still start at 1, and it binds no
name in the notebook's namespace. Rewriting the spec is idempotent.
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


def with_fast_exit(argv: list[str]) -> list[str]:
    """The kernel's ``argv`` with :data:`FAST_EXIT` before ``-f {connection_file}``."""
    if FAST_EXIT in argv:
        return list(argv)
    at = argv.index("-f") if "-f" in argv else len(argv)
    return [*argv[:at], FAST_EXIT, *argv[at:]]


def main(path: str) -> None:
    spec_path = Path(path)
    spec = json.loads(spec_path.read_text())
    argv = with_fast_exit(spec["argv"])
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
