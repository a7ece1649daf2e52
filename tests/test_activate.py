"""scripts/activate.sh is safe to source in an interactive shell; scripts/env.sh stays strict."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACTIVATE = ROOT / "scripts" / "activate.sh"


def _interactive(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    # an interactive bash (-i) with an empty rc file, as a reader's terminal would be
    rc = tmp_path / "bashrc"
    rc.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "BASH_ENV")}
    return subprocess.run(["bash", "--rcfile", str(rc), "-i", "-c", script],
                          capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "activate").is_file(), reason="no .venv")
def test_sourcing_then_failing_leaves_the_shell_alive(tmp_path: Path) -> None:
    result = _interactive(f"source {ACTIVATE}; false; ls /no/such/path; "
                          "echo \"alive opts=$- venv=$VIRTUAL_ENV\"; "
                          "python -c 'import lenet, sys; print(sys.prefix)'", tmp_path)
    assert "alive" in result.stdout, result.stdout + result.stderr
    opts = result.stdout.split("opts=")[1].split()[0]
    assert "e" not in opts and "u" not in opts   # no errexit, no nounset left behind
    assert f"venv={ROOT / '.venv'}" in result.stdout
    assert str(ROOT / ".venv") in result.stdout.splitlines()[-1]


def test_sourcing_without_a_venv_says_what_to_do(tmp_path: Path) -> None:
    fake = tmp_path / "repo"
    (fake / "scripts").mkdir(parents=True)
    (fake / "scripts" / "activate.sh").write_text(ACTIVATE.read_text())
    result = _interactive(f"source {fake}/scripts/activate.sh; false; echo alive", tmp_path)
    assert "alive" in result.stdout
    assert "bash scripts/book.sh" in result.stderr


def test_the_scripts_keep_the_strict_env() -> None:
    env = (ROOT / "scripts" / "env.sh").read_text()
    assert "set -euo pipefail" in env
    code = [line.strip() for line in ACTIVATE.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in code if line.startswith(("set ", "shopt", "exit"))]


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").is_file(), reason="no .venv")
def test_jupyterlab_is_in_the_environment() -> None:
    # the README's `jupyter lab notebooks/...` works after the main command
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--version"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()[0].isdigit()
