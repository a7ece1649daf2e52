"""lenet.glue writes what myst_nb.glue writes, so the book cites its values the same way."""

from __future__ import annotations

import subprocess
import sys

import pytest
from IPython.testing.globalipapp import get_ipython
from IPython.utils.capture import capture_output

from lenet.glue import glue

get_ipython()   # display() needs an interactive shell, as in a notebook


def _outputs(glue_fn, *args, **kwargs) -> list[tuple[dict, dict]]:
    with capture_output() as captured:
        glue_fn(*args, **kwargs)
    return [(out.data, out.metadata) for out in captured.outputs]


@pytest.mark.parametrize("display", [True, False])
@pytest.mark.parametrize("value", [0.9527, 42, "2.5%", [1, 2], {"a": 1}])
def test_glue_writes_what_myst_nb_writes(value, display) -> None:
    from myst_nb import glue as myst_nb_glue

    ours = _outputs(glue, "key", value, display=display)
    assert ours == _outputs(myst_nb_glue, "key", value, display=display)
    assert ours and ours[0][1]["scrapbook"]["name"] == "key"


def test_glue_refuses_a_nameless_value() -> None:
    with pytest.raises(ValueError, match="name"):
        glue("", 1.0)


def test_glue_does_not_import_nbformat_or_jsonschema() -> None:
    code = ("import sys; from IPython.testing.globalipapp import get_ipython; get_ipython(); "
            "from lenet.glue import glue; glue('x', 1.0, display=False); "
            "print('nbformat' in sys.modules, 'jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
