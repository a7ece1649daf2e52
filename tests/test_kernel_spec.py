"""The project's kernel spec registers gc.freeze at exit: placed before the connection file,
written once however often the set-up runs, and binding no name in the kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import kernel_spec  # noqa: E402

ARGV = ["/venv/bin/python", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f",
        "{connection_file}"]


def test_the_option_goes_before_the_connection_file_once():
    argv = kernel_spec.with_fast_exit(ARGV)
    assert argv == [*ARGV[:4], kernel_spec.FAST_EXIT, *ARGV[4:]]
    assert kernel_spec.with_fast_exit(argv) == argv


def test_the_spec_is_rewritten_in_place_and_only_once(tmp_path):
    path = tmp_path / "kernel.json"
    path.write_text(json.dumps({"argv": ARGV, "display_name": "Python 3 (lenet)"}))
    kernel_spec.main(str(path))
    first = path.read_text()
    assert json.loads(first)["argv"].count(kernel_spec.FAST_EXIT) == 1
    assert json.loads(first)["display_name"] == "Python 3 (lenet)"
    kernel_spec.main(str(path))
    assert path.read_text() == first
    assert [p.name for p in tmp_path.iterdir()] == ["kernel.json"]   # no temporary left


def test_the_exec_line_registers_one_exit_handler_and_binds_no_name():
    line = kernel_spec.FAST_EXIT.split("=", 1)[1]
    code = ("import atexit; before = atexit._ncallbacks(); names = set(globals())\n"
            f"{line}\n"
            "print(atexit._ncallbacks() - before, sorted(set(globals()) - names - {'names'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=1)
    assert out == ["1", "[]\n"]
