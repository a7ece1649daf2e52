"""scripts/nbval_cache.py: nbval hands the notebooks it passed, executed, to the English
build's execution cache; a notebook it did not pass is left for the build to run itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbval_cache  # noqa: E402


def _notebook(cells: list[tuple[str, str, list[str]]]):
    """A notebook of code cells given as (source, committed stdout, tags)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# A title"))
    for count, (source, stdout, tags) in enumerate(cells, 1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.metadata["tags"] = tags
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stdout)]
        nb.cells.append(cell)
    return nb


def test_executed_notebook_fills_code_cells_by_nbval_cell_number() -> None:
    nb = _notebook([("print(1)", "1\n", []), ("print(2)", "2\n", [])])
    fresh = [[nbformat.v4.new_output("stream", name="stdout", text="one\n")],
             [nbformat.v4.new_output("stream", name="stdout", text="two\n")]]
    done = nbval_cache.executed_notebook(nb, {0: fresh[0], 1: fresh[1]})
    assert [c.outputs for c in done.cells if c.cell_type == "code"] == fresh
    assert nb.cells[1].outputs[0].text == "1\n"                  # the original is untouched
    assert nbval_cache.executed_notebook(nb, {0: fresh[0]}) is None          # a cell missing
    assert nbval_cache.executed_notebook(nb, {0: fresh[0], 1: None}) is None  # did not run


@pytest.mark.slow
def test_only_passing_notebooks_reach_the_cache_with_this_runs_outputs(tmp_path: Path) -> None:
    from jupyter_cache import get_cache

    # the ignored cell's committed output is stale: the cache must hold the fresh one
    passing = _notebook([("print(6 * 7)", "42\n", []),
                         ("print('fresh')", "stale\n", ["nbval-ignore-output"])])
    mismatched = _notebook([("print(1 + 1)", "3\n", [])])
    for name, nb in (("passing.ipynb", passing), ("mismatched.ipynb", mismatched)):
        nbformat.write(nb, tmp_path / name)
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q",
         "-p", "no:cacheprovider", "-p", "nbval_cache", "--nbval-cache-into", str(cache_dir),
         "passing.ipynb", "mismatched.ipynb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1, result.stdout[-3000:]          # the mismatch fails nbval
    assert "nbval_cache: 1 passing notebook(s) stored" in result.stdout
    cache = get_cache(str(cache_dir))
    assert [Path(r.uri).name for r in cache.list_cache_records()] == ["passing.ipynb"]
    record, merged = cache.merge_match_into_notebook(nbformat.read(tmp_path / "passing.ipynb",
                                                                   as_version=4))
    outputs = ["".join(o.text for o in c.outputs) for c in merged.cells if c.cell_type == "code"]
    assert outputs == ["42\n", "fresh\n"]
    with pytest.raises(KeyError):   # an edited notebook is not served the old outputs
        cache.match_cache_notebook(_notebook([("print(6 * 7 + 0)", "42\n", []),
                                              ("print('fresh')", "", [])]))
