"""What tests/test_book.py checks in the chapters' Markdown, as plain functions.

Kept apart from the tests so that each rule can itself be tested on small made-up cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The paper's published LeNet-5 figures (LeCun et al. 1998) that the chapters compute:
#: parameters and connections per layer (the table of chapter 1), the fully connected C3
#: alternative, the network's total connections, and the reported MNIST test errors. Typed
#: into prose they could silently disagree with the code; the chapters glue them instead.
#: (60,000 is left out on purpose: it is also the size of MNIST's training set.)
PAPER_FIGURES: tuple[str, ...] = (
    "122,304", "5,880", "151,600", "1,516", "2,000", "48,120", "10,164", "2,416",
    "340,908", "0.95%", "0.8%", "1.7%", "1.1%",
)

# Roles, directives and code whose content is not prose: glue roles and directives, inline
# code, fenced code blocks, citation and cross-reference roles, Markdown link targets, HTML
# tags and MyST comments.
_BLOCK = re.DOTALL | re.MULTILINE
_NOT_PROSE = [
    re.compile(r"^(```|~~~|:::)\{glue[^\n]*\n.*?^\1", _BLOCK),  # {glue:figure} blocks
    re.compile(r"^(```+|~~~+)[^\n]*\n.*?^\1", _BLOCK),           # fenced code
    re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),                    # {glue:text}`name:fmt`
    re.compile(r"\{[\w:-]+\}`[^`]*`"),                          # {cite}`k`, {ref}`x`...
    re.compile(r"``[^`]*``|`[^`\n]*`"),                         # inline code
    re.compile(r"\]\([^)]*\)"),                                 # link targets
    re.compile(r"<[^>\n]*>"),                                   # HTML tags
    re.compile(r"^%.*$", re.MULTILINE),                         # MyST comments
]
_GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`[^`]+`|^(```|:::)\{glue", re.MULTILINE)
_PAPER_WORDS = re.compile(r"\bpaper\b|\bLeCun\b|\{cite(?::\w+)?\}`", re.IGNORECASE)


def strip_non_prose(markdown: str) -> str:
    """The Markdown with glue roles, code, roles, links, tags and comments blanked out."""
    for pattern in _NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return markdown


def figure_pattern(figure: str) -> re.Pattern[str]:
    """Match `figure` as typed: '122,304' also as '122304' or '122{,}304' (LaTeX)."""
    number, percent = figure.rstrip("%"), figure.endswith("%")
    groups = number.split(",")
    body = r"(?:,|\{,\}|\\,|\s)?".join(re.escape(g) for g in groups)
    if percent:
        body += r"\s*(?:%|\\%|\s*percent)"
    # not part of a longer number on either side (1,516 is not inside 11,516 or 1,5160)
    return re.compile(r"(?<![\d.,])" + body + (r"" if percent else r"(?![\d]|[.,]\d)"))


def typed_figures(markdown: str, figures: Iterable[str] = PAPER_FIGURES) -> list[str]:
    """Paper figures typed in prose, one entry per offending paragraph.

    A paragraph may quote the paper (it mentions the paper, LeCun or a citation) when it
    also glues the computed value: "the paper states 0.95%; our model reaches {glue}".
    """
    found = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        prose = strip_non_prose(paragraph)
        hits = [f for f in figures if figure_pattern(f).search(prose)]
        if not hits:
            continue
        if _PAPER_WORDS.search(paragraph) and _GLUE_ROLE.search(paragraph):
            continue
        found.append(f"{', '.join(hits)} in: {' '.join(paragraph.split())[:160]}")
    return found


def headings(markdown: str) -> list[tuple[int, str]]:
    """(level, title) of each ATX heading outside fenced code."""
    text = _NOT_PROSE[1].sub(" ", markdown)
    return [(len(m.group(1)), m.group(2).strip())
            for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", text, re.MULTILINE)]


def is_ignored_output(cell: dict) -> bool:
    """True for a code cell whose output nbval does not compare.

    Asks nbval's own parser: a marker counts only as a comment line that is exactly
    ``# NBVAL_IGNORE_OUTPUT`` (``# NBVAL_IGNORE_OUTPUT: why`` is a plain comment to nbval).
    """
    from nbval.plugin import find_comment_markers

    tags = cell.get("metadata", {}).get("tags", [])
    markers = dict(find_comment_markers("".join(cell.get("source", ""))))
    return ("nbval-ignore-output" in tags or "nbval-skip" in tags
            or markers.get("check") is False or markers.get("skip") is True)
