"""Strict book build: warnings are errors, and a notebook that fails to execute fails the build.

`jupyter-book build` can exit 0 after a notebook raised, so besides `-W -n --keep-going`
this script also fails on any execution report Jupyter Book left in `reports/`.

Usage: python scripts/strict_build.py [BOOK_ROOT] [--output DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path


def _site_config_module():
    spec = importlib.util.spec_from_file_location(
        "site_config", Path(__file__).resolve().parent / "site_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# jupyter_book has no __main__ module: call its click entry point with this interpreter
JUPYTER_BOOK = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def fail_on_execution_reports(html_dir: Path, status: int) -> int:
    """``status``, or 1 when a notebook left an execution report in ``html_dir/reports``
    (printed): jupyter-book can exit 0 after a notebook raised."""
    reports = sorted((html_dir / "reports").glob("**/*.log"))
    for report in reports:
        print(f"notebook execution failed, see {report}:\n{report.read_text()[-3000:]}")
    return 1 if status == 0 and reports else status


def other_editions() -> set[str]:
    """The folders, under the English edition's root, of the book's other editions."""
    return {folder.strip("/") for folder, _, _ in _site_config_module().LANGUAGES.values()
            if folder}


def clear_html(html: Path, keep: set[str] = frozenset()) -> None:
    """Remove everything in ``html`` but the entries named in ``keep``."""
    if html.is_dir():
        for entry in html.iterdir():
            if entry.name not in keep:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()


def strict_build(root: Path, output: Path) -> int:
    """Build the book at `root` into `output` strictly; return a process exit code.

    The configuration is _config.yml plus what follows from the repository's address
    (scripts/site_config.py; $BOOK_REPOSITORY overrides the address).
    """
    config = _site_config_module().write_site_config(
        root, output / "_build" / "_site_config.yml")
    cmd = [
        *JUPYTER_BOOK, "build", str(root),
        "--toc", str(root / "book" / "_toc.yml"), "--config", str(config),
        "--path-output", str(output), "-W", "-n", "--keep-going",
        # a fresh Sphinx environment: an incremental build re-reads only changed pages, so it
        # would neither repeat the warnings of the others nor refresh stale cross-page data.
        # Notebook outputs still come from the execution cache, so this costs seconds.
        "--all",
    ]
    # Start from an empty html folder (the execution cache next to it is kept): stale pages
    # would otherwise survive, e.g. viewcode skips a source page older than its module, and an
    # old execution report would fail a build whose notebooks now run. The other editions'
    # folders (zh_CN/) are theirs to replace: their build may be running beside this one.
    clear_html(output / "_build" / "html", keep=other_editions())
    print("$", " ".join(cmd), flush=True)
    status = fail_on_execution_reports(output / "_build" / "html", subprocess.call(cmd))
    print("strict build:", "OK" if status == 0 else f"FAILED (exit {status})", flush=True)
    return status


def main() -> int:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=here)
    parser.add_argument("--output", type=Path, default=None,
                        help="build folder parent (default: the book root)")
    args = parser.parse_args()
    return strict_build(args.root.resolve(), (args.output or args.root).resolve())


if __name__ == "__main__":
    sys.exit(main())
