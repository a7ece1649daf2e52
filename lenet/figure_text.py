"""The language of figure text: one setting, ``LENET_LANG``, for every figure.

The book's Chinese edition runs the same notebooks with ``LENET_LANG=zh_CN``: when `lenet` is
imported with that setting, :func:`install` makes matplotlib translate each figure's words
(titles, axis labels, legends, tick labels, annotations) from a table shipped with the package
just before the figure is drawn, and draws Chinese with Noto CJK (Debian's ``fonts-noto-cjk``).
Notebook code stays the same in every language; numbers and symbols are left as they are.

``LENET_FIGURE_TEXT_LOG`` names a file to which every figure string that has no translation is
appended, one per line: the Chinese build fails on a non-empty log, and an English run with
``LENET_LANG=zh_CN`` and an empty table collects the strings to translate.
"""

from __future__ import annotations

import functools
import json
import os
import re
from importlib import resources
from typing import Any

#: The environment variable that sets the language of figure text.
LANGUAGE_VARIABLE = "LENET_LANG"
#: The languages figure text can be drawn in; "en" draws the strings as the code wrote them.
LANGUAGES = ("en", "zh_CN")
#: Where untranslated figure strings are logged (see the module docstring).
LOG_VARIABLE = "LENET_FIGURE_TEXT_LOG"
#: The font for the glyphs DejaVu Sans lacks (matplotlib falls back glyph by glyph).
CJK_FONTS = ("Noto Sans CJK SC",)

_WORD = re.compile(r"[A-Za-z]{2,}")
_MATH = re.compile(r"\$[^$]*\$")   # a tick label such as $\mathdefault{10^{-1}}$


def figure_language() -> str:
    """The language of figure text, from ``LENET_LANG`` ("en" when unset)."""
    language = os.environ.get(LANGUAGE_VARIABLE, "").strip() or "en"
    if language not in LANGUAGES:
        raise ValueError(f"{LANGUAGE_VARIABLE}: expected one of {', '.join(LANGUAGES)}, "
                         f"got {language!r}")
    return language


@functools.cache
def translations(language: str) -> dict[str, str]:
    """English figure string -> its rendering in ``language`` (empty for "en")."""
    if language not in LANGUAGES:
        raise ValueError(f"language: expected one of {', '.join(LANGUAGES)}, got {language!r}")
    if language == "en":
        return {}
    text = resources.files("lenet").joinpath("locale", f"{language}.json").read_text("utf-8")
    return json.loads(text)


def translate(text: str, language: str) -> str:
    """``text`` in ``language``: its entry in the table, line by line.

    A string without words (numbers, symbols, single letters) or made of one formula is
    returned as it is. A string with words and no entry is returned unchanged and logged
    (see ``LENET_FIGURE_TEXT_LOG``).
    """
    if language == "en" or not _WORD.search(text) or _MATH.fullmatch(text):
        return text
    table = translations(language)
    if text in table:
        return table[text]
    lines = text.split("\n")
    if len(lines) > 1:
        return "\n".join(translate(line, language) for line in lines)
    _log_missing(text)
    return text


def _log_missing(text: str) -> None:
    path = os.environ.get(LOG_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(text, ensure_ascii=False) + "\n")


def _translating(func: Any, language: str) -> Any:
    def translated(x: float, pos: int | None = None) -> str:
        return translate(str(func(x, pos)), language)

    translated._translated = True
    return translated


def translate_figure(figure: Any, language: str) -> None:
    """Translate every text of ``figure`` (a matplotlib Figure) into ``language`` in place:
    its Text artists and the fixed tick labels of its axes."""
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    if language == "en":
        return
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for formatter in (axis.get_major_formatter(), axis.get_minor_formatter()):
                # tick labels given as strings (set_xticks(ticks, labels)) live in the
                # formatter and are made again at every draw; numeric formatters are left alone
                if isinstance(formatter, FixedFormatter):
                    formatter.seq = [translate(str(s), language) for s in formatter.seq]
                elif isinstance(formatter, FuncFormatter) and \
                        not getattr(formatter.func, "_translated", False):
                    formatter.func = _translating(formatter.func, language)
    for artist in figure.findobj(Text):
        text = artist.get_text()
        if text:
            artist.set_text(translate(text, language))


def _register_cjk_fonts() -> None:
    """Make the installed CJK fonts known to matplotlib (its font cache may predate them)."""
    from matplotlib import font_manager

    if any(f.name in CJK_FONTS for f in font_manager.fontManager.ttflist):
        return
    for path in font_manager.findSystemFonts(fontext="ttf") + \
            font_manager.findSystemFonts(fontext="otf"):
        if os.path.basename(path).startswith("NotoSansCJK"):
            font_manager.fontManager.addfont(path)


def install(language: str | None = None) -> None:
    """Draw every later figure's text in ``language`` (default: ``LENET_LANG``).

    Patches matplotlib's canvas so that a figure is translated just before it is rendered
    (inline in a notebook, or saved), and adds the CJK fonts as fallbacks. A no-op for "en".
    """
    language = language or figure_language()
    if language == "en":
        return
    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    _register_cjk_fonts()
    # matplotlib falls back glyph by glyph along a list of named families (not along the
    # members of a generic family such as "sans-serif")
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    sans = next(f for f in matplotlib.rcParams["font.sans-serif"] if f in known)
    matplotlib.rcParams["font.family"] = [sans] + [f for f in CJK_FONTS if f in known]
    matplotlib.rcParams["axes.unicode_minus"] = False   # CJK fonts lack U+2212
    original = getattr(FigureCanvasBase.print_figure, "__wrapped__",
                       FigureCanvasBase.print_figure)

    @functools.wraps(original)
    def print_figure(self: Any, *args: Any, **kwargs: Any) -> Any:
        translate_figure(self.figure, language)
        return original(self, *args, **kwargs)

    FigureCanvasBase.print_figure = print_figure
