"""The notebooks' set-up cell, written once: it installs `lenet` where it is missing.

Colab, Binder or a plain Jupyter that opens one downloaded chapter has no `lenet`, and every
chapter imports it. The set-up cell comes right after each
chapter's title and, when ``lenet`` cannot be imported, runs

    pip install "lenet[notebooks] @ git+REPOSITORY"     # lenet, scipy, pandas, ...
    pip install --no-deps d2l==1.0.3                    # chapter 2; its own pins are obsolete

Where ``lenet`` is installed but ``d2l`` is not (``pip install lenet`` alone), it installs
lenet's ``notebooks`` extra (read from the installed package's metadata) and d2l, which the
cell always installs last.
In the project's own environment both are importable, so the cell does nothing and prints
nothing. ``$LENET_INSTALL_SOURCE`` (a folder, a wheel or any pip URL) replaces the
repository (the tests point it at the local checkout). The repository is _config.yml's
``repository.url`` (the one place it lives) unless ``--repository`` is given; with none, a
reader who runs the cell without `lenet` is told what to do. The book removes the cell from
its pages (tag ``remove-cell``).

Usage: python scripts/setup_cell.py [NOTEBOOK ...] [--repository URL] [--check]
(default: every notebooks/NN_*.ipynb; --check changes nothing and exits 1 when a notebook's
set-up cell is missing or differs from the canonical one)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "lenet-setup"
MARKER = "# Set-up for Colab, Binder or any Jupyter: installs `lenet` if it is missing."
TAGS = ["remove-cell"]
#: Installed with --no-deps next to lenet (chapter 2 compares with it).
D2L = "d2l==1.0.3"

_TEMPLATE = '''{marker}
# (A no-op where `lenet` is installed. Written by scripts/setup_cell.py.)
import importlib.metadata
import importlib.util
import os
import subprocess
import sys

PIP = [sys.executable, "-m", "pip", "install", "--quiet"]
if importlib.util.find_spec("lenet") is None:
    REPOSITORY = "{repository}"
    source = os.environ.get("LENET_INSTALL_SOURCE") or (
        REPOSITORY and "git+" + REPOSITORY)
    if not source:
        raise RuntimeError(
            "This notebook needs the `lenet` package, and does not know the "
            "repository it comes from. Install it from a copy of the book's "
            "repository (pip install /path/to/repository), or set "
            "LENET_INSTALL_SOURCE to a pip-installable location, then rerun.")
    if os.path.exists(source):
        source = "file://" + os.path.abspath(source)
    print("installing lenet from", source, "(a minute or two)")
    subprocess.run(PIP + ["lenet[notebooks] @ " + source], check=True)
    subprocess.run(PIP + ["--no-deps", "{d2l}"], check=True)
elif importlib.util.find_spec("d2l") is None:
    # `lenet` alone: add what the chapters use besides it (its extra)
    print("installing what the chapters use besides lenet")
    subprocess.run(PIP + [r.split(";")[0] for r in importlib.metadata.requires(
        "lenet") if 'extra == "notebooks"' in r], check=True)
    subprocess.run(PIP + ["--no-deps", "{d2l}"], check=True)
importlib.invalidate_caches()'''


def configured_repository(root: Path = ROOT) -> str:
    """_config.yml's repository.url, normalized ('' when empty)."""
    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from site_config import normalize_repository

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return normalize_repository((config.get("repository") or {}).get("url"))


def cell_source(repository: str) -> str:
    """The canonical set-up cell's code for ``repository`` ('' = unknown)."""
    if '"' in repository or "\\" in repository:
        raise ValueError(f"repository: not a plain URL: {repository!r}")
    return _TEMPLATE.format(marker=MARKER, repository=repository, d2l=D2L)


def setup_cell(repository: str) -> dict:
    """The set-up cell as an nbformat 4 code cell (executed: it outputs nothing)."""
    source = cell_source(repository)
    lines = source.splitlines(keepends=True)
    return {"cell_type": "code", "execution_count": 1, "id": CELL_ID,
            "metadata": {"tags": list(TAGS)}, "outputs": [], "source": lines}


def _is_setup_cell(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and (
        cell.get("id") == CELL_ID or "".join(cell.get("source", "")).startswith(MARKER))


def _position(cells: list[dict]) -> int:
    """Right after the title cell (a Markdown cell starting with '# '), else first."""
    if cells and cells[0]["cell_type"] == "markdown" and \
            "".join(cells[0]["source"]).lstrip().startswith("# "):
        return 1
    return 0


def apply(nb: dict, repository: str) -> bool:
    """Put the canonical set-up cell in place in ``nb``; return whether ``nb`` changed."""
    cells = nb["cells"]
    wanted = setup_cell(repository)
    others = [c for c in cells if not _is_setup_cell(c)]
    position = _position(others)
    current = [c for c in cells if _is_setup_cell(c)]
    if len(current) == 1 and cells.index(current[0]) == position and \
            "".join(current[0]["source"]) == "".join(wanted["source"]) and \
            current[0].get("metadata", {}).get("tags") == TAGS:
        return False
    others.insert(position, wanted)
    nb["cells"] = others
    return True


def problems(nb: dict, repository: str) -> list[str]:
    """How ``nb``'s set-up cell differs from the canonical one (empty: it matches)."""
    cells = nb["cells"]
    found = [i for i, c in enumerate(cells) if _is_setup_cell(c)]
    if not found:
        return ["no set-up cell"]
    out = []
    if len(found) > 1:
        out.append(f"{len(found)} set-up cells")
    position = _position([c for c in cells if not _is_setup_cell(c)])
    if found[0] != position:
        out.append(f"the set-up cell is cell {found[0]}, not cell {position}")
    cell = cells[found[0]]
    if "".join(cell["source"]) != cell_source(repository):
        out.append("the set-up cell's code differs from scripts/setup_cell.py's "
                   f"(repository {repository or 'none'})")
    if cell.get("metadata", {}).get("tags") != TAGS:
        out.append(f"the set-up cell's tags are not {TAGS}")
    return out


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repository", default=None,
                        help="owner/name or URL (default: _config.yml's repository.url)")
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    args = parser.parse_args()
    if args.repository is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from site_config import normalize_repository

        repository = normalize_repository(args.repository)
    else:
        repository = configured_repository()
    failed = 0
    for path in args.notebooks or notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        if args.check:
            for problem in problems(nb, repository):
                print(f"{path}: {problem}")
                failed = 1
        elif apply(nb, repository):
            # nbformat's own layout, so the diff shows only the cell
            path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False)
                            + "\n", encoding="utf-8")
            print(f"{path}: set-up cell written")
    if args.check and not failed:
        print("every notebook starts with the canonical set-up cell")
    return failed


if __name__ == "__main__":
    sys.exit(main())
