"""The book: its table of contents, its chapters' conventions, and the strict build.

The chapter checks read the committed notebooks (fast, no execution). The build tests run
`scripts/strict_build.py` on a two-page book in a temporary folder: a notebook that raises
must fail the build, a clean one must pass.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from book_checks import (
    PAPER_FIGURES,
    figure_pattern,
    headings,
    is_ignored_output,
    strip_non_prose,
    typed_figures,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTER_IDS = [nb.stem for nb in NOTEBOOKS]
MAX_IGNORED_FRACTION = 0.10


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def markdown_of(nb: dict) -> str:
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


# --- the table of contents --------------------------------------------------------------

def test_every_toc_entry_is_an_existing_page() -> None:
    missing = [f for f in toc_files()
               if not any((ROOT / f"{f}{ext}").is_file() for ext in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"


def test_every_chapter_notebook_is_in_the_toc() -> None:
    listed = set(toc_files())
    unlisted = [nb.name for nb in NOTEBOOKS if f"notebooks/{nb.stem}" not in listed]
    assert not unlisted, f"notebooks missing from book/_toc.yml (never built): {unlisted}"


def test_intro_links_every_chapter_in_the_toc() -> None:
    intro = strip_comments((ROOT / "book" / "intro.md").read_text(encoding="utf-8"))
    chapters = [f for f in toc_files() if f.startswith("notebooks/")]
    unlinked = [c for c in chapters if f"(../{c}.ipynb)" not in intro]
    assert not unlinked, f"book/intro.md's chapter list does not link: {unlinked}"


def strip_comments(markdown: str) -> str:
    return re.sub(r"^%.*$", "", markdown, flags=re.MULTILINE)


def test_api_reference_documents_every_lenet_module() -> None:
    api = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    modules = sorted(p.stem for p in (ROOT / "lenet").glob("*.py")
                     if not p.stem.startswith("_"))
    undocumented = [m for m in modules if f".. automodule:: lenet.{m}\n" not in api]
    assert not undocumented, f"book/api.md has no automodule for lenet.{undocumented}"


def test_every_citation_has_a_bibliography_entry() -> None:
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, re.MULTILINE))
    texts = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")}
    texts |= {nb.name: markdown_of(read_notebook(nb)) for nb in NOTEBOOKS}
    cited = {(name, key.strip()) for name, text in texts.items()
             for keys_ in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text)
             for key in keys_.split(",")}
    unknown = sorted((name, key) for name, key in cited if key not in keys)
    assert not unknown, f"citations with no entry in book/references.bib: {unknown}"


# --- the chapters' conventions ----------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_types_no_paper_figure_in_prose(path: Path) -> None:
    found = typed_figures(markdown_of(read_notebook(path)))
    assert not found, (
        f"{path.name}: the paper's figures typed in Markdown; glue the computed value "
        "({glue:text}`name:,`), quoting the paper only beside the glued number:\n  "
        + "\n  ".join(found))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_glues_its_numbers(path: Path) -> None:
    nb = read_notebook(path)
    # (a role whose name was never glued fails the strict build: myst-nb warns about it)
    uses = re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", markdown_of(nb))
    code = "\n".join("".join(c["source"]) for c in code_cells(nb))
    assert uses, f"{path.name}: no {{glue:text}} role in the Markdown: numbers must be glued"
    assert re.search(r"\bglue\(", code), f"{path.name}: no glue() call in the code cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_ends_with_exercises_and_solutions(path: Path) -> None:
    markdown = markdown_of(read_notebook(path))
    titles = [title for level, title in headings(markdown) if level == 2]
    assert "Exercises" in titles, f"{path.name}: no '## Exercises' section"
    after = titles[titles.index("Exercises") + 1:]
    assert all(t.lower().startswith("what the code proved") for t in after), (
        f"{path.name}: after '## Exercises' only 'What the code proved' may follow, "
        f"found {after}")
    tail = markdown[markdown.index("## Exercises"):]
    assert re.search(r"^\s*:class:\s*dropdown", tail, re.MULTILINE), (
        f"{path.name}: the exercises have no collapsible solution (:class: dropdown)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_title_and_kernel(path: Path) -> None:
    nb = read_notebook(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown"
    assert re.match(r"# [^\d\s]", "".join(first["source"])), (
        f"{path.name}: the first cell must be the title '# Title' (the toc numbers it)")
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_headings_carry_no_typed_numbers(path: Path) -> None:
    # the toc numbers chapters, sections and figures; a typed "3.1" would drift from them
    typed = [title for level, title in headings(markdown_of(read_notebook(path)))
             if re.match(r"\d+(\.\d+)*\.?\s", title)]
    assert not typed, f"{path.name}: headings with typed numbers: {typed}"


def test_the_chapters_part_of_the_toc_is_numbered() -> None:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    chapters = [part for part in toc["parts"] if part.get("caption") == "Chapters"]
    assert chapters and chapters[0].get("numbered") is True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_ignores_few_outputs(path: Path) -> None:
    cells = code_cells(read_notebook(path))
    ignored = [c for c in cells if is_ignored_output(c)]
    assert cells, f"{path.name} has no code cell"
    assert len(ignored) <= MAX_IGNORED_FRACTION * len(cells), (
        f"{path.name}: {len(ignored)} of {len(cells)} code cells skip nbval's output "
        f"comparison (at most {MAX_IGNORED_FRACTION:.0%} allowed)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_figures_are_rendered(path: Path) -> None:
    # a kernel that inherits a non-interactive backend (MPLBACKEND=Agg) makes plt.show() a
    # no-op: the chapter then executes cleanly but the book shows no figure at all
    cells = code_cells(read_notebook(path))
    blank = [i for i, c in enumerate(cells) if "plt.show()" in "".join(c["source"])
             and not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert not blank, f"{path.name}: code cells {blank} call plt.show() but hold no image"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_is_committed_executed(path: Path) -> None:
    cells = code_cells(read_notebook(path))
    unexecuted = [i for i, c in enumerate(cells) if c["source"] and c["execution_count"] is None]
    assert not unexecuted, f"{path.name}: code cells never executed: {unexecuted}"


PROCESS_PHRASES = re.compile(
    r"seed notes?|seed documents?|source notes?|source documents?|\bsessions?\b"
    r"|planned from|was (?:not )?available|were (?:not )?available|\.ci/|\.\./shared",
    re.IGNORECASE)
MAX_CODE_LINE = 80


def reader_texts() -> dict[str, str]:
    """Everything a reader sees as prose: chapter Markdown, the book pages, the README."""
    texts = {nb.name: markdown_of(read_notebook(nb)) for nb in NOTEBOOKS}
    texts |= {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "book").glob("*.md"))}
    texts["README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    return texts


@pytest.mark.parametrize("name", sorted(reader_texts()))
def test_reader_text_has_no_process_language(name: str) -> None:
    # a reader has no notes, sessions or CI folders: say what was measured, or cite a source
    hits = sorted({m.group(0) for m in PROCESS_PHRASES.finditer(reader_texts()[name])})
    assert not hits, f"{name}: reader text talks about how the book was made: {hits}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_code_fits_the_column(path: Path) -> None:
    long = [line for c in code_cells(read_notebook(path))
            for line in "".join(c["source"]).splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, (f"{path.name}: {len(long)} code lines over {MAX_CODE_LINE} characters "
                      f"scroll sideways on the page, e.g. {long[0]!r}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=CHAPTER_IDS)
def test_every_exercise_has_a_solution(path: Path) -> None:
    markdown = markdown_of(read_notebook(path))
    tail = markdown[markdown.index("## Exercises"):]
    tail = tail[:tail.index("## What the code proved")] if "## What the code proved" in tail \
        else tail
    exercises = re.findall(r"^(\d+)\.\s", strip_fenced(tail), re.MULTILINE)
    solutions = re.findall(r"^\s*:class:\s*dropdown", tail, re.MULTILINE)
    assert exercises, f"{path.name}: the Exercises section has no numbered exercise"
    assert len(solutions) >= len(exercises), (
        f"{path.name}: {len(exercises)} exercises but {len(solutions)} solutions")


def strip_fenced(markdown: str) -> str:
    """The Markdown outside ::: and ``` blocks (solutions may hold numbered lists too)."""
    return re.sub(r"^(:::+|```+)[^\n]*\n.*?^\1\s*$", "", markdown,
                  flags=re.MULTILINE | re.DOTALL)


def test_process_language_is_found() -> None:
    for text in ("One seed note claims", "the source notes say", "in the session that",
                 "No GPU was available", "see ../shared/BOOK_PLAN.md", "run .ci/run"):
        assert PROCESS_PHRASES.search(text), text
    for text in ("It is often said that pooling", "a source of error", "the seed of the run"):
        assert not PROCESS_PHRASES.search(text), text


# --- the rules themselves, on made-up Markdown ------------------------------------------

@pytest.mark.parametrize("figure", PAPER_FIGURES)
def test_a_typed_paper_figure_is_found(figure: str) -> None:
    assert typed_figures(f"C1 has {figure} of them.") != []
    if "," in figure:
        assert typed_figures(f"C1 has {figure.replace(',', '')} of them.") != []
        assert typed_figures(f"$x = {figure.replace(',', '{,}')}$") != []


def test_glued_or_coded_figures_are_not_prose() -> None:
    assert typed_figures("C1 has {glue:text}`c1_conn:,` connections.") == []
    assert typed_figures("Run `assert summary(model)[0].connections == 122304`.") == []
    assert typed_figures("```python\nassert n == 122_304 or n == 122304\n```") == []
    assert typed_figures("% a comment: 122,304") == []


def test_quoting_the_paper_needs_the_glued_value_beside_it() -> None:
    quoted = "The paper reports 0.95% test error {cite}`lecun1998gradient`."
    assert typed_figures(quoted) != []
    assert typed_figures(quoted + " Ours: {glue:text}`err:.2%`.") == []


def test_figures_inside_longer_numbers_are_not_matches() -> None:
    assert not figure_pattern("1,516").search("11,516 weights")
    assert not figure_pattern("1,516").search("1,5160 and 1.516")
    assert not figure_pattern("0.8%").search("10.8%")
    assert not figure_pattern("1.1%").search("21.1%")


def test_headings_ignore_code_comments() -> None:
    md = "## Exercises\n\n```python\n# not a heading\n```\n\n## What the code proved"
    assert headings(md) == [(2, "Exercises"), (2, "What the code proved")]


def test_ignored_output_by_comment_or_tag() -> None:
    assert is_ignored_output({"source": "# NBVAL_IGNORE_OUTPUT\n# (timing)\nx", "metadata": {}})
    assert is_ignored_output({"source": "x = 1\n  #  NBVAL_SKIP  \nx", "metadata": {}})
    # nbval reads a marker only as a whole comment: with a reason on the line it is inert
    assert not is_ignored_output({"source": "# NBVAL_IGNORE_OUTPUT: timing\nx", "metadata": {}})
    assert is_ignored_output({"source": "x", "metadata": {"tags": ["nbval-ignore-output"]}})
    assert not is_ignored_output({"source": "print('NBVAL_IGNORE_OUTPUT')", "metadata": {}})


def test_strip_non_prose_keeps_prose() -> None:
    assert "LeNet" in strip_non_prose("LeNet has {glue:text}`n:,` weights")
    assert "122" not in strip_non_prose("{glue:text}`c_122304:,`")


def _browser_check():
    spec = importlib.util.spec_from_file_location("browser_check",
                                                  ROOT / "scripts" / "browser_check.py")
    browser_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(browser_check)
    return browser_check


class _FakeDriver:
    """A stand-in for selenium's driver: ``stalls`` is "load" (the page load times out),
    "render" (the render script does) or "" (it returns). A page with a ``redirects_to`` URL
    goes there once its URL has been looked at; a render script run before that is cut off by
    the navigation, which chromedriver reports as a script timeout at once."""

    def __init__(self, stalls: str = "", redirects_to: str = "") -> None:
        self.stalls, self.redirects_to = stalls, redirects_to
        self.url, self.navigating = "", False

    def get(self, url: str) -> None:
        from selenium.common.exceptions import TimeoutException
        if self.stalls == "load":
            raise TimeoutException("page load")
        self.url, self.navigating = url, bool(self.redirects_to)

    @property
    def current_url(self) -> str:
        url = self.url
        if self.navigating:
            self.url, self.navigating = self.redirects_to, False
        return url

    def execute_async_script(self, script: str) -> dict:
        from selenium.common.exceptions import TimeoutException
        if self.stalls == "render" or self.navigating:
            raise TimeoutException("script timeout")
        return {"rendered": self.url, "badImgs": [], "nMath": 0, "nRendered": 0,
                "unrendered": [], "badDropdowns": [], "iconOk": True, "nCode": 0, "nCopy": 0,
                "text": "intro"}

    def get_log(self, kind: str) -> list:
        return []


def test_browser_check_reports_a_page_that_does_not_render_in_time() -> None:
    browser_check = _browser_check()
    browser_check.RENDER_LIMIT_S = 0   # a stalled script is one that ran the whole limit
    for stalls, error in (("load", "did not load within 0 s"),
                          ("render", "did not render within 0 s")):
        assert browser_check.render(_FakeDriver(stalls), "http://127.0.0.1/page.html") \
            == {"error": error}
        assert browser_check.check_page(_FakeDriver(stalls), "http://127.0.0.1/", "page.html",
                                        None) == [f"render script failed: {error}"]


def test_browser_check_says_when_navigation_cut_the_render_script_short() -> None:
    browser_check = _browser_check()
    result = browser_check.render(_FakeDriver(redirects_to="http://127.0.0.1/b.html"),
                                  "http://127.0.0.1/a.html")
    assert result["error"].startswith("the render script was cut off after 0 s"), result


def test_browser_check_renders_a_redirecting_page_where_it_lands(tmp_path: Path) -> None:
    browser_check = _browser_check()
    stub = tmp_path / "index.html"
    stub.write_text('<html><head><meta http-equiv="Refresh" content="0; url=book/intro.html" />'
                    '</head><body><a href="book/intro.html">intro</a></body></html>')
    parsed = browser_check.parse_page(stub)
    assert parsed.refresh == "book/intro.html"
    landed = "http://127.0.0.1/book/intro.html"
    assert browser_check.render(_FakeDriver(redirects_to=landed), "http://127.0.0.1/index.html",
                                landed)["rendered"] == landed
    assert browser_check.check_page(_FakeDriver(redirects_to=landed), "http://127.0.0.1/",
                                    "index.html", parsed) == []
    browser_check.RENDER_LIMIT_S = 0   # a redirect that never happens
    result = browser_check.render(_FakeDriver(), "http://127.0.0.1/index.html", landed)
    assert result["error"].startswith(f"redirects to {landed}, but the browser is still at "
                                      "http://127.0.0.1/index.html"), result


def test_browser_check_wants_a_figure_per_plot_cell(tmp_path: Path) -> None:
    browser_check = _browser_check()
    source, html = tmp_path / "src", tmp_path / "html"
    (source / "notebooks").mkdir(parents=True)
    (html / "notebooks").mkdir(parents=True)
    cells = [{"cell_type": "code", "source": ["plt.plot(x)\n", "plt.show()"]},
             {"cell_type": "code", "source": "plt.show()"},
             {"cell_type": "markdown", "source": "plt.show() in prose is not a plot"}]
    (source / "notebooks" / "ch.ipynb").write_text(json.dumps({"cells": cells}))
    one = html / "notebooks" / "ch.html"
    one.write_text('<img src="../_images/a.png">')
    assert "2 cells of ch.ipynb call plt.show(), but the page shows only 1 figure(s)" in \
        browser_check.figure_problems(html, one, source)[0]
    two = html / "notebooks" / "ch2.html"
    (source / "notebooks" / "ch2.ipynb").write_text(json.dumps({"cells": cells}))
    two.write_text('<img src="../_images/a.png"><img src="../_images/b.png">')
    assert browser_check.figure_problems(html, two, source) == []
    (html / "intro.html").write_text("<p>no notebook behind this page</p>")
    assert browser_check.figure_problems(html, html / "intro.html", source) == []


def test_browser_check_finds_broken_links_anchors_and_external_assets(tmp_path: Path) -> None:
    browser_check = _browser_check()
    (tmp_path / "b.html").write_text('<h1 id="top">B</h1>')
    page = tmp_path / "a.html"
    page.write_text(
        '<link rel="stylesheet" href="https://cdn.example/x.css">'
        '<script src="local.js"></script><img src="fig.png">'
        '<a href="b.html#top">ok</a><a href="b.html#nope">bad anchor</a>'
        '<a href="c.html">missing</a><a href="https://example.org">external link</a>'
        '<a href="#here">self</a><p id="here"></p>')
    problems = browser_check.static_problems(tmp_path, page)
    assert sorted(problems) == sorted([
        "external asset loaded at render: https://cdn.example/x.css",
        "missing asset: local.js", "missing asset: fig.png",
        "missing anchor: b.html#nope", "broken link: c.html"])


# --- the strict build -------------------------------------------------------------------

def _tiny_book(root: Path, code: str) -> Path:
    """A two-page book using the project's execution settings, with one notebook."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    raise_on_error = config["sphinx"]["config"].get("nb_execution_raise_on_error", False)
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text(yaml.safe_dump({
        "title": "tiny", "only_build_toc_files": True, "execute": config["execute"],
        "exclude_patterns": ["_build/*"],
        "sphinx": {"config": {"nb_execution_raise_on_error": raise_on_error}},
    }))
    (root / "book" / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapter\n")
    (root / "book" / "intro.md").write_text("# Tiny\n\nA book with one chapter.\n")
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# 1. Chapter"},
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
             "source": code},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (root / "book" / "chapter.ipynb").write_text(json.dumps(notebook))
    return root


def _strict_build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "strict_build.py"), str(book)],
        check=False, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("code", "ok"), [
    ("print(6 * 28 * 28)", True),
    ("raise RuntimeError('a chapter that fails to execute')", False),
], ids=["clean-notebook-builds", "raising-notebook-fails"])
def test_strict_build_fails_exactly_when_a_notebook_raises(tmp_path: Path, code: str,
                                                           ok: bool) -> None:
    result = _strict_build(_tiny_book(tmp_path / "book", code))
    log = (result.stdout + result.stderr)[-3000:]
    assert (result.returncode == 0) is ok, log
    assert ("strict build: OK" in result.stdout) is ok, log
    if not ok:  # failed because the notebook raised, not for some other reason
        assert "a chapter that fails to execute" in result.stdout + result.stderr, log
    if ok:
        html = (tmp_path / "book" / "_build" / "html" / "book" / "chapter.html").read_text()
        assert "4704" in html   # the cell really ran, and its output is on the page


def test_the_english_build_clears_its_pages_but_not_another_editions_folder(tmp_path):
    """The two editions build side by side in the test command: the English build starts from
    an empty folder, except for the Chinese edition's, which its own build replaces."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("strict_build",
                                                  ROOT / "scripts" / "strict_build.py")
    strict_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(strict_build)
    assert strict_build.other_editions() == {"zh_CN"}
    html = tmp_path / "html"
    for name in ("index.html", "notebooks/a.html", "reports/a.log", "zh_CN/index.html"):
        (html / name).parent.mkdir(parents=True, exist_ok=True)
        (html / name).write_text("x")
    strict_build.clear_html(html, keep=strict_build.other_editions())
    assert [p.relative_to(html).as_posix() for p in sorted(html.rglob("*"))] == [
        "zh_CN", "zh_CN/index.html"]
