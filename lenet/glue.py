"""Glue a computed value into the book's prose, without myst-nb's import cost.

A chapter writes a number with ``glue("name", value)`` and its prose cites it with
myst-nb's ``glue`` role. :func:`glue` writes exactly the display output that ``myst_nb.glue`` writes
(``tests/test_glue.py`` compares the two), but imports only IPython's display machinery:
``myst_nb.glue`` imports ``nbformat``, and with it ``jsonschema``'s format checkers, which are
slow to import, once per notebook run.
"""

from __future__ import annotations

from typing import Any

from lenet._checks import fail

#: The MIME-type prefix that hides a glued value in the notebook (myst-nb's, from papermill).
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Record ``variable``'s display forms (text, HTML, PNG...) under ``name`` for the book.

    ``display=False`` keeps the value out of the notebook's visible output; the book can cite
    it either way. Needs an IPython kernel (a Jupyter notebook), like ``myst_nb.glue``.
    """
    if not isinstance(name, str) or not name:
        fail("name", name, "must be a non-empty string")
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipython_display

    mimebundle, metadata = format_display_data(variable)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipython_display({prefix + key: value for key, value in mimebundle.items()}, raw=True,
                    metadata=metadata)
