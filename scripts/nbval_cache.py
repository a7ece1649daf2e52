"""A pytest plugin for nbval: each notebook that passes is stored, with the outputs this run
produced, in a Jupyter Book execution cache (jupyter-cache), so that a book build in
``execute_notebooks: cache`` mode takes its outputs from this run instead of executing the
notebook once more.

    python -m pytest --nbval ... -p nbval_cache --nbval-cache-into _build/.jupyter_cache notebooks

A notebook is stored only when every one of its code cells ran and passed (its outputs
matched the committed ones, or were exempt from the comparison). Any other notebook is left
out, so the build executes it itself, and a notebook that raises still fails the build.
The cache matches a notebook by its code cells' sources, so an edited notebook is never
served outputs from an older version of it.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

#: Where the run keeps what each notebook's cells did, and the line it reports at the end.
_KEY = pytest.StashKey[dict]()
_STORED = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--nbval-cache-into", default=None, type=Path, metavar="DIR",
                     help="store each passing notebook, executed, in the jupyter-cache DIR")


class _Notebook:
    """What one notebook's cells did in this run."""

    def __init__(self, parent) -> None:
        self.parent = parent
        self.outputs: dict[int, list] = {}
        self.failed = False
        self.started = time.monotonic()
        self.seconds = 0.0


def _notebooks(config: pytest.Config) -> dict[str, _Notebook]:
    return config.stash.setdefault(_KEY, {})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if item.config.getoption("nbval_cache_into") is None or not hasattr(item, "cell_num"):
        return
    report = outcome.get_result()
    notebooks = _notebooks(item.config)
    if item.parent.nodeid not in notebooks:
        notebooks[item.parent.nodeid] = _Notebook(item.parent)
    seen = notebooks[item.parent.nodeid]
    if report.failed or report.skipped:
        seen.failed = True
    elif call.when == "call":
        seen.outputs[item.cell_num] = item.test_outputs
        seen.seconds = time.monotonic() - seen.started


def executed_notebook(nb, outputs: dict[int, list]):
    """A copy of ``nb`` whose code cells hold ``outputs`` (keyed by nbval's cell number, which
    counts code cells only); None if a code cell has none (it did not run)."""
    nb = copy.deepcopy(nb)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if set(outputs) != set(range(len(code_cells))) or None in outputs.values():
        return None
    for number, cell in enumerate(code_cells):
        cell.outputs = outputs[number]
    return nb


def pytest_sessionfinish(session: pytest.Session) -> None:
    where = session.config.getoption("nbval_cache_into")
    if where is None:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(where))
    stored = []
    for seen in _notebooks(session.config).values():
        nb = None if seen.failed else executed_notebook(seen.parent.nb, seen.outputs)
        if nb is not None:
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, str(seen.parent.path), data={"execution_seconds": seen.seconds}),
                check_validity=False, overwrite=True)
            stored.append(seen.parent.path.name)
    session.config.stash[_STORED] = f"{len(stored)} passing notebook(s) stored in {where}"


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if _STORED in config.stash:
        terminalreporter.write_line(f"nbval_cache: {config.stash[_STORED]}")
