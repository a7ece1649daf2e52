"""The project's kernel spec: the kernel starts without the debugger (unless asked for) and
registers gc.freeze at exit; the spec is rewritten once however often the set-up runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import kernel_spec  # noqa: E402

ARGV = kernel_spec.installed_argv("/venv/bin/python")


def test_installed_argv_is_what_ipykernel_install_writes(tmp_path):
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(tmp_path),
                    "--name", "probe"], check=True, capture_output=True)
    spec = json.loads((tmp_path / "share/jupyter/kernels/probe/kernel.json").read_text())
    assert spec["argv"] == kernel_spec.installed_argv(sys.executable)


def test_the_launcher_replaces_ipykernel_launcher_and_the_exit_option_comes_once():
    argv = kernel_spec.project_argv(ARGV)
    assert argv == [*ARGV[:2], "-c", kernel_spec.LAUNCH, kernel_spec.FAST_EXIT,
                    "-f", "{connection_file}"]
    assert kernel_spec.project_argv(argv) == argv


def test_an_older_spec_of_the_project_is_brought_up_to_date():
    fast_exit_only = [*ARGV[:4], kernel_spec.FAST_EXIT, *ARGV[4:]]
    older_launch = [*ARGV[:2], "-c", "from ipykernel.kernelapp import launch_new_instance\n"
                    "launch_new_instance()\n", *ARGV[4:]]
    for argv in (fast_exit_only, older_launch):
        assert kernel_spec.project_argv(argv) == kernel_spec.project_argv(ARGV)


def test_a_spec_without_ipykernel_launcher_is_refused():
    with pytest.raises(ValueError, match="argv: no '-m ipykernel_launcher'"):
        kernel_spec.project_argv(["/venv/bin/python", "-m", "other_kernel", "-f", "x"])


def test_the_spec_is_rewritten_in_place_and_only_once(tmp_path):
    path = tmp_path / "kernel.json"
    path.write_text(json.dumps({"argv": ARGV, "display_name": "Python 3 (lenet)"}))
    kernel_spec.main(str(path))
    first = path.read_text()
    assert json.loads(first)["argv"] == kernel_spec.project_argv(ARGV)
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


PROBE = ("import sys, os; print(sys.modules.get('debugpy') is not None, "
         "os.getcwd() in sys.path or '' in sys.path)")


def _kernel_run(env: dict[str, str]) -> tuple[list[str], str]:
    """Start a kernel from the project's argv, return its kernel_info features and what
    PROBE prints."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv = kernel_spec.project_argv(kernel_spec.installed_argv(sys.executable))
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        features = kc.kernel_info(reply=True, timeout=30)["content"]["supported_features"]
        printed = []
        kc.execute_interactive(PROBE, timeout=60, output_hook=lambda m: printed.append(
            m["content"].get("text", "")))
        return features, "".join(printed).strip()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("debugger", ["", "1"])
def test_the_kernel_runs_without_the_debugger_unless_asked(debugger):
    pytest.importorskip("debugpy")
    env = {k: v for k, v in os.environ.items()
           if k != kernel_spec.DEBUGGER_VARIABLE}
    if debugger:
        env[kernel_spec.DEBUGGER_VARIABLE] = debugger
    features, printed = _kernel_run(env)
    assert ("debugger" in features) == bool(debugger)
    # debugpy loaded only with the debugger; the notebook's folder importable either way
    assert printed == f"{bool(debugger)} True"
