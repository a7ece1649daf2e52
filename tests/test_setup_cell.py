"""The notebooks' set-up cell (scripts/setup_cell.py): Colab, Binder and a plain Jupyter.

The slow test executes chapter 6 in a fresh virtual environment that holds only Jupyter's
kernel and what the set-up cell itself installs, with the install pointed at a copy of this
checkout ($LENET_INSTALL_SOURCE): the proof that the cell's own install list is enough.
The third-party packages that list pulls in are linked in from this environment rather than
unpacked again (tests/fresh_venv.py): the venv sees the dependency closure of the cell's pip
line and nothing more, so a chapter importing a package outside it still fails.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fresh_venv import clean_env, make_venv

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("setup_cell", ROOT / "scripts" / "setup_cell.py")
setup_cell = importlib.util.module_from_spec(spec)
spec.loader.exec_module(setup_cell)

NOTEBOOKS = setup_cell.notebooks()
#: The chapter the fresh environment runs: the cheapest to execute.
CHAPTER = ROOT / "notebooks" / "06_dilated_and_transposed.ipynb"
#: Import names a chapter may use that the reader's Jupyter itself provides.
JUPYTER_PROVIDES = {"IPython", "matplotlib_inline", "ipykernel"}
REPO = "https://github.com/alice/lenet-book"


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the canonical cell -------------------------------------------------------------------

# COORDINATOR: this test passes once `python scripts/setup_cell.py` has been run on the
# notebooks (after the chapters are final), then the notebooks re-executed/committed.
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_starts_with_the_canonical_setup_cell(path: Path) -> None:
    problems = setup_cell.problems(_notebook(path), setup_cell.configured_repository())
    assert not problems, (f"{path.name}: {problems}; run `python scripts/setup_cell.py` "
                          "(it writes the canonical set-up cell after each title)")


def test_cell_lines_fit_and_define_nothing() -> None:
    source = setup_cell.cell_source(REPO)
    assert max(len(line) for line in source.splitlines()) <= 80
    tree = ast.parse(source)
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert f'REPOSITORY = "{REPO}"' in source


def test_insert_then_update_a_copy_of_a_chapter(tmp_path: Path) -> None:
    copy = tmp_path / CHAPTER.name
    shutil.copy(CHAPTER, copy)
    nb = _notebook(copy)
    original = [c for c in nb["cells"] if not setup_cell._is_setup_cell(c)]
    assert setup_cell.apply(nb, "") is True or setup_cell.problems(nb, "") == []
    assert setup_cell.problems(nb, "") == []
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and cells[1]["id"] == setup_cell.CELL_ID
    assert cells[1]["metadata"]["tags"] == ["remove-cell"] and cells[1]["outputs"] == []
    assert [c for c in cells if not setup_cell._is_setup_cell(c)] == original
    assert setup_cell.apply(nb, "") is False                  # idempotent
    assert setup_cell.problems(nb, REPO) != []                # another address: out of date
    assert setup_cell.apply(nb, REPO) is True
    assert setup_cell.problems(nb, REPO) == []
    assert sum(setup_cell._is_setup_cell(c) for c in nb["cells"]) == 1


def test_script_writes_and_checks(tmp_path: Path) -> None:
    copy = tmp_path / CHAPTER.name
    shutil.copy(CHAPTER, copy)
    run = [sys.executable, str(ROOT / "scripts" / "setup_cell.py"), str(copy),
           "--repository", "alice/lenet-book"]
    subprocess.run(run, check=True, capture_output=True)
    assert subprocess.run([*run, "--check"], check=False, capture_output=True).returncode == 0
    check_other = [*run[:3], "--repository", "bob/book", "--check"]
    result = subprocess.run(check_other, check=False, capture_output=True, text=True)
    assert result.returncode == 1 and "differs" in result.stdout


def test_cell_is_a_no_op_where_lenet_is_installed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LENET_INSTALL_SOURCE"}
    result = subprocess.run([sys.executable, "-c", setup_cell.cell_source("")], cwd=tmp_path,
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_cell_without_lenet_or_address_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LENET_INSTALL_SOURCE"}
    # -S: no site-packages, so `lenet` cannot be imported, as in a fresh Colab runtime
    result = subprocess.run([sys.executable, "-S", "-c", setup_cell.cell_source("")],
                            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60,
                            check=False)
    assert result.returncode != 0
    assert "LENET_INSTALL_SOURCE" in result.stderr and "pip install" in result.stderr


def test_cell_with_lenet_but_no_d2l_installs_the_notebooks_extra(tmp_path: Path) -> None:
    # a reader who ran `pip install lenet` alone and opens a downloaded chapter: d2l (which the
    # cell installs last) is hidden and pip is replaced by a print of its command line
    prelude = ("import importlib.util, subprocess\n"
               "real = importlib.util.find_spec\n"
               "importlib.util.find_spec = lambda name, *a: (\n"
               "    None if name == 'd2l' else real(name, *a))\n"
               "subprocess.run = lambda cmd, check: print(cmd[5:])\n")
    result = subprocess.run([sys.executable, "-c", prelude + setup_cell.cell_source("")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()[1:]
    assert "scipy>=1.11" in commands[0] and "pandas>=2.0" in commands[0]
    assert "lenet" not in commands[0]   # lenet itself stays as installed
    assert commands[1] == str(["--no-deps", setup_cell.D2L])


# --- the install list covers every chapter's imports --------------------------------------

def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[;\s]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in requirements}


def _third_party_imports(nb: dict) -> set[str]:
    names = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        code = "\n".join(line for line in "".join(cell["source"]).splitlines()
                         if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_setup_cell_installs_what_the_chapter_imports(path: Path) -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = _requirement_names(project["dependencies"]
                                   + project["optional-dependencies"]["notebooks"]
                                   + [setup_cell.D2L])
    distributions = md.packages_distributions()
    missing = []
    for name in sorted(_third_party_imports(_notebook(path)) - JUPYTER_PROVIDES - {"lenet"}):
        dists = {d.lower().replace("_", "-") for d in distributions.get(name, [name])}
        if not dists & installed:
            missing.append(f"{name} (from {sorted(dists)})")
    assert not missing, (f"{path.name} imports what the set-up cell does not install: "
                         f"{missing}; add it to [project.optional-dependencies] notebooks")


# --- a chapter in a fresh environment made from the cell's list ----------------------------

def _cell_requirement() -> str:
    """The requirement the set-up cell pip-installs lenet by, e.g. ``lenet[notebooks]``."""
    found = re.findall(r'"(lenet(?:\[[\w,]+\])?) @ "', setup_cell.cell_source(""))
    assert len(found) == 1, found
    return found[0]


def test_the_cell_installs_lenet_with_the_notebooks_extra() -> None:
    assert _cell_requirement() == "lenet[notebooks]"


@pytest.mark.slow
def test_a_chapter_runs_in_a_venv_made_from_the_setup_cell(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # The venv sees what any Jupyter has (a kernel and a way to run a notebook) and what the
    # cell's own pip line asks for, with their dependencies, but not lenet itself: the cell
    # installs lenet (and d2l) there.
    python = make_venv(venv, ["ipykernel", "nbclient", "nbformat", _cell_requirement()],
                       exclude=frozenset({"lenet"}))
    # a copy of the checkout: what `pip install git+REPOSITORY` would fetch
    source = tmp_path / "checkout"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "lenet", source / "lenet",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = clean_env(venv, JUPYTER_DATA_DIR=str(tmp_path / "jupyter"),
                    LENET_INSTALL_SOURCE=str(source))
    nb = _notebook(CHAPTER)
    setup_cell.apply(nb, "")
    chapter = tmp_path / CHAPTER.name
    chapter.write_text(json.dumps(nb))
    run = ("import nbclient, nbformat, sys\n"
           "nb = nbformat.read(sys.argv[1], as_version=4)\n"
           "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute()\n"
           "print(''.join(o.get('text', '') for o in nb.cells[1].outputs))\n")
    result = subprocess.run([str(python), "-c", run, str(chapter)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "installing lenet from" in result.stdout
    where = subprocess.run([str(python), "-c", "import lenet, d2l; print(lenet.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(venv)), where.stdout   # installed, not the checkout
