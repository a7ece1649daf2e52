"""The Chinese edition: extract the book's text, keep the translations in step, build it.

One set of sources, two editions. Sphinx's gettext builder reads the chapters and pages as
Jupyter Book parses them and writes every paragraph, heading, caption, admonition, table cell
and docstring as a message into ``.pot`` files; ``sphinx-intl`` keeps
``locales/zh_CN/LC_MESSAGES/**/*.po`` in step with them; a build with ``language: zh_CN``
renders the Chinese edition from the same notebooks into ``_build/html/zh_CN/``, beside the
English edition at the root. The notebooks run again for it with ``LENET_LANG=zh_CN``: code
and outputs stay the same, but figures draw their words in Chinese (``lenet.figure_text``,
from ``lenet/locale/zh_CN.json``, with Noto CJK, installed with apt-get when missing).

Commands (run from anywhere; the repository is this script's parent folder):

    python scripts/i18n.py extract            # .pot files -> _build/gettext/
    python scripts/i18n.py update [--only DOC...]  # extract, then update the .po files
    python scripts/i18n.py check [--po-only]  # what is untranslated, fuzzy or out of date
    python scripts/i18n.py build [--strict]   # the Chinese edition -> _build/html/zh_CN/

``check`` fails (exit 1) when a message is untranslated or fuzzy, when a .po file is out of
step with the extracted .pot (a message missing or left over), when a translation drops or
changes what must survive unchanged (glued values, math, cross-references, citations, inline
code), or when it does not use the glossary's Chinese term for a term its English uses.
``--po-only`` skips the extraction (fast: for translators).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(Path(__file__).resolve().parent))
import system_packages  # noqa: E402  (scripts/system_packages.py)

LANGUAGE = "zh_CN"
LOCALES = ROOT / "locales"
PO_DIR = LOCALES / LANGUAGE / "LC_MESSAGES"
GLOSSARY = ROOT / "book" / "glossary.md"

# What a translation keeps exactly as the English has it. Each pattern finds one kind of
# token; a translation must contain the same tokens, as many times (order may change).
_ROLES = r"(?:numref|ref|doc|eq|download|func|class|meth|mod|attr|data|obj|exc|math)"
PRESERVED = {
    "glued value": r"\{glue(?::\w+)?\}`[^`]+`",
    "citation": r"\{cite(?::\w+)?\}`[^`]+`",
    # MyST's {func}`x` or reST's :func:`x`: the same reference (see `tokens`)
    "reference": rf"\{{(?:py:)?{_ROLES}\}}`[^`]+`|(?<![\w`]):(?:py:)?{_ROLES}:`[^`]+`",
    "display math": r"\$\$.+?\$\$",
    "math": r"(?<![\\$])\$(?!\$)[^$]+?(?<![\\$])\$(?!\$)",
    "inline code": r"``[^`]+``|(?<![`\w}:])`[^`]+`(?!`)",
}
# A reference in either syntax -> (role, target); a reference that carries its own text,
# {doc}`glossary <glossary>`, counts by its target only: a translation may change the text.
_REFERENCE = re.compile(r"^[:{](?:py:)?(\w+)[:}]`(?:[^`<]*<([^>`]+)>|([^`]*))`$")


def _strict_build():
    """scripts/strict_build.py: the jupyter-book command, the execution-report check, and the
    site configuration it loads (scripts/site_config.py)."""
    spec = importlib.util.spec_from_file_location("strict_build",
                                                  ROOT / "scripts" / "strict_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _site_config():
    return _strict_build()._site_config_module()


def _jupyter_book(*args: str) -> list[str]:
    return [*_strict_build().JUPYTER_BOOK, *args]


def extract(pot_dir: Path) -> Path:
    """Write the book's messages as .pot files under ``pot_dir``; return ``pot_dir``.

    The notebooks are not executed: their committed outputs are used as they are.
    """
    import yaml

    work = Path(tempfile.mkdtemp(prefix="book-gettext-"))
    try:
        config = yaml.safe_load(_site_config().write_site_config(
            ROOT, work / "config.yml").read_text(encoding="utf-8"))
        config.setdefault("execute", {})["execute_notebooks"] = "off"
        config["sphinx"]["config"].update(gettext_compact=False, gettext_uuid=False,
                                          gettext_location=False, gettext_last_translator="",
                                          gettext_language_team="")
        (work / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False,
                                                        allow_unicode=True), encoding="utf-8")
        cmd = _jupyter_book("build", str(ROOT), "--toc", str(ROOT / "book" / "_toc.yml"),
                            "--config", str(work / "config.yml"), "--path-output", str(work),
                            "--builder", "custom", "--custom-builder", "gettext", "--all")
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SystemExit(f"extracting the messages failed (exit {result.returncode})")
        shutil.rmtree(pot_dir, ignore_errors=True)
        pot_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(work / "_build" / "gettext", pot_dir,
                        ignore=shutil.ignore_patterns("_static", "*.doctree", ".doctrees"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # the theme's own template strings come translated with the theme
    (pot_dir / "sphinx.pot").unlink(missing_ok=True)
    return pot_dir


def update(pot_dir: Path, only: list[str] | None = None) -> None:
    """Bring the .po files in step with the .pot files under ``pot_dir`` (new messages are
    added untranslated, changed ones marked fuzzy, removed ones dropped). ``only``: just
    these documents (``notebooks/04_pooling``), leaving every other .po file untouched."""
    if only:
        selected = Path(tempfile.mkdtemp(prefix="book-pot-"))
        for doc in only:
            pot = pot_dir / f"{doc}.pot"
            if not pot.is_file():
                raise SystemExit(f"--only: no document {doc!r} (expected e.g. "
                                 "notebooks/04_pooling or book/intro)")
            (selected / doc).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(pot, selected / f"{doc}.pot")
        pot_dir = selected
    subprocess.run([sys.executable, "-m", "sphinx_intl", "update", "-p", str(pot_dir),
                    "-l", LANGUAGE, "-d", str(LOCALES), "-w", "0", "--no-obsolete"],
                   check=True, capture_output=True)
    if only:
        shutil.rmtree(pot_dir, ignore_errors=True)
        return
    # .po files whose document is gone
    for po in PO_DIR.rglob("*.po"):
        if not (pot_dir / po.relative_to(PO_DIR).with_suffix(".pot")).exists():
            po.unlink()


# ---------------------------------------------------------------- the checks

@dataclass(frozen=True)
class Problem:
    """One thing wrong with a translation: where, what kind, and the message it concerns."""

    file: str
    kind: str
    message: str

    def __str__(self) -> str:
        text = self.message if len(self.message) <= 100 else self.message[:97] + "..."
        return f"{self.file}: {self.kind}: {text!r}"


def _catalog(path: Path):
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        return read_po(handle)


def _entries(catalog) -> dict[str, object]:
    return {m.id: m for m in catalog if m.id}


def tokens(text: str) -> Counter:
    """The tokens of ``text`` that a translation keeps unchanged, with their counts.

    References count by role and target, whatever their syntax: a docstring's ``:func:`f```
    is written ``{func}`f``` in a translation, since Sphinx parses every translated message of
    a page with that page's parser, and the API page is MyST.
    """
    found: Counter = Counter()
    rest = text
    for kind, pattern in PRESERVED.items():
        for match in re.finditer(pattern, rest, flags=re.S):
            token = match.group(0)
            ref = _REFERENCE.match(token) if kind == "reference" else None
            found[kind, f"{ref.group(1)}:{ref.group(2) or ref.group(3)}" if ref else token] += 1
        rest = re.sub(pattern, " ", rest, flags=re.S)
    return found


def glossary_terms(path: Path = GLOSSARY) -> dict[str, list[str]]:
    """English term -> its Chinese forms (the first is the preferred one), from the
    glossary directive of book/glossary.md."""
    lines = path.read_text(encoding="utf-8").split("```{glossary}", 1)[1].split("```", 1)[0]
    terms: dict[str, list[str]] = {}
    english: str | None = None
    for line in lines.splitlines():
        if not line.strip() or line.startswith((" ", "\t")):
            english = None if line.strip() else english
            continue
        if re.search(r"[\u4e00-\u9fff]", line):
            if english:
                terms[english].append(line.strip())
        else:
            english = line.strip()
            terms[english] = []
    return {term: forms for term, forms in terms.items() if forms}


# Terms that Chinese technical writing keeps as they are (d2l-zh writes "ReLU函数"): using the
# English name satisfies the glossary check too.
KEPT_AS_IS = {"ReLU", "sigmoid", "tanh", "im2col"}
# Other renderings a term may take: "kernel" is also the compute kernel of a library (内核),
# and 核 alone is the usual short form of 卷积核 (核大小, 3x3 的核).
OTHER_FORMS = {"kernel": ["核"]}
# identifiers such as run or file names (lenet5_distorted) are not prose
_IDENTIFIER = re.compile(r"\b\w+_\w+\b")


def _prose(text: str) -> str:
    """``text`` without the preserved tokens, markup targets and URLs (where terms are not
    translated: code, math, reference targets)."""
    for pattern in PRESERVED.values():
        text = re.sub(pattern, " ", text, flags=re.S)
    text = re.sub(r"\{term\}`[^`]*<([^>]+)>`", r"\1", text)
    text = re.sub(r"\]\([^)]*\)|https?://\S+", " ", text)
    return text


def term_problems(msgid: str, msgstr: str, terms: dict[str, list[str]]) -> list[str]:
    """The glossary terms that ``msgid`` uses and ``msgstr`` does not render with one of the
    term's Chinese forms."""
    english = _prose(msgid).lower()
    chinese = msgstr
    missing = []
    for term, forms in terms.items():
        forms = forms + OTHER_FORMS.get(term, []) + ([term] if term in KEPT_AS_IS else [])
        if re.search(rf"(?<![\w-]){re.escape(term.lower())}(?:s|es)?(?![\w-])", english) \
                and not any(form in chinese for form in forms):
            missing.append(f"{term} -> {' / '.join(forms)}")
    return missing


def check_catalog(name: str, catalog, terms: dict[str, list[str]]) -> list[Problem]:
    """Untranslated, fuzzy, changed-token and glossary problems of one .po catalog."""
    problems = []
    for message in catalog:
        if not message.id:
            continue
        msgid, msgstr = str(message.id), str(message.string or "")
        if not msgstr.strip():
            problems.append(Problem(name, "untranslated", msgid))
            continue
        if message.fuzzy:
            problems.append(Problem(name, "fuzzy", msgid))
        if msgstr == msgid:
            # kept as it is: fine for a glossary term (both forms stay cross-referenceable),
            # a name or code; not for English prose
            # (a display formula is a message of its own: its LaTeX commands are not prose)
            latex = re.sub(r"\\[A-Za-z]+(?:\{[^{}]*\})?", " ", _prose(msgid))
            words = re.findall(r"[A-Za-z]{3,}", _IDENTIFIER.sub(" ", latex))
            if msgid not in terms and len(words) > 1:
                problems.append(Problem(name, "English kept untranslated", msgid))
            continue
        lost = tokens(msgid) - tokens(msgstr)
        added = tokens(msgstr) - tokens(msgid)
        for (kind, token), _ in (lost + added).items():
            where = "dropped or changed" if (kind, token) in lost else "not in the English"
            problems.append(Problem(name, f"{kind} {where}: {token}", msgid))
        for term in term_problems(msgid, msgstr, terms):
            problems.append(Problem(name, f"glossary term not used ({term})", msgid))
    return problems


def check_in_step(pot_dir: Path) -> list[Problem]:
    """Messages in a .pot that its .po lacks, and .po messages no .pot has any more."""
    problems = []
    pots = {p.relative_to(pot_dir).with_suffix(".po"): p for p in pot_dir.rglob("*.pot")}
    pos = {p.relative_to(PO_DIR): p for p in PO_DIR.rglob("*.po")} if PO_DIR.exists() else {}
    for rel, pot in sorted(pots.items()):
        if rel not in pos:
            problems.append(Problem(str(rel), "no .po file (run scripts/i18n.py update)",
                                    str(rel)))
            continue
        want, have = _entries(_catalog(pot)), _entries(_catalog(pos[rel]))
        problems += [Problem(str(rel), "out of date: message missing from the .po", m)
                     for m in want if m not in have]
        problems += [Problem(str(rel), "out of date: message no longer in the book", m)
                     for m in have if m not in want]
    problems += [Problem(str(rel), "out of date: document no longer in the book", str(rel))
                 for rel in sorted(set(pos) - set(pots))]
    return problems


def check(po_only: bool = False) -> list[Problem]:
    """Every problem of the Chinese translation (see the module docstring)."""
    terms = glossary_terms()
    problems = []
    for po in sorted(PO_DIR.rglob("*.po")):
        problems += check_catalog(str(po.relative_to(PO_DIR)), _catalog(po), terms)
    if not po_only:
        with tempfile.TemporaryDirectory() as tmp:
            problems += check_in_step(extract(Path(tmp) / "gettext"))
    return problems


# ---------------------------------------------------------------- the build

#: The table of contents' own words (part captions and page titles it sets), which Sphinx
#: does not extract: the Chinese edition's table of contents is written with these.
TOC_WORDS = {"Start here": "从这里开始", "Chapters": "章节", "Appendices": "附录",
             "Performance": "性能"}


def toc_words(toc: dict) -> list[str]:
    """Every caption and title that ``toc`` (a parsed _toc.yml) sets itself."""
    words = []
    for part in toc.get("parts", []):
        words += [part["caption"]] if part.get("caption") else []
        words += [c["title"] for c in part.get("chapters", []) if c.get("title")]
    return words


def translated_toc(out: Path) -> Path:
    """Write book/_toc.yml with its captions and titles in Chinese to ``out``."""
    import yaml

    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    missing = [w for w in toc_words(toc) if w not in TOC_WORDS]
    if missing:
        raise SystemExit(f"no Chinese for the table of contents' {missing} (add it to "
                         "TOC_WORDS in scripts/i18n.py)")
    for part in toc.get("parts", []):
        if part.get("caption"):
            part["caption"] = TOC_WORDS[part["caption"]]
        for chapter in part.get("chapters", []):
            if chapter.get("title"):
                chapter["title"] = TOC_WORDS[chapter["title"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def ensure_cjk_font() -> None:
    """Install fonts-noto-cjk with apt-get when it is missing (needs root)."""
    if not system_packages.has_cjk_font():
        system_packages.apt_install([system_packages.CJK_FONT_PACKAGE], "the figures' Chinese")


def build(strict: bool = False, html_dir: Path | None = None) -> int:
    """Build the Chinese edition into ``html_dir`` (default ``_build/html/zh_CN``); return
    an exit code. ``strict``: warnings are errors (``-W -n --keep-going``), and so is a figure
    string without a Chinese entry in ``lenet/locale/zh_CN.json``.

    The notebooks run with ``LENET_LANG=zh_CN`` (in an execution cache of their own), so their
    figures draw Chinese; code and every other output are the same as in English.
    """
    html_dir = html_dir or ROOT / "_build" / "html" / LANGUAGE
    work = ROOT / "_build" / LANGUAGE
    ensure_cjk_font()
    config = _site_config().write_site_config(ROOT, work / "_site_config.yml",
                                              language=LANGUAGE)
    missing = work / "figure_text_missing.jsonl"
    missing.unlink(missing_ok=True)
    env = dict(os.environ, LENET_LANG=LANGUAGE, LENET_FIGURE_TEXT_LOG=str(missing))
    toc = translated_toc(work / "_toc.yml")
    cmd = _jupyter_book("build", str(ROOT), "--toc", str(toc),
                        "--config", str(config), "--path-output", str(work))
    if strict:
        cmd += ["-W", "-n", "--keep-going", "--all"]
    shutil.rmtree(work / "_build" / "html", ignore_errors=True)
    # no stale edition is left in place when this build fails (the English build, which may
    # run beside this one, leaves this folder alone)
    shutil.rmtree(html_dir, ignore_errors=True)
    print("$", " ".join(cmd), flush=True)
    # the notebooks run here: a notebook that raised fails the build, as in English
    status = _strict_build().fail_on_execution_reports(work / "_build" / "html",
                                                       subprocess.call(cmd, env=env))
    if missing.is_file():
        # a notebook run afresh logs every figure string it could not translate
        strings = sorted(set(missing.read_text(encoding="utf-8").splitlines()))
        print(f"{len(strings)} figure string(s) without Chinese in lenet/locale/zh_CN.json:\n"
              + "\n".join(strings), flush=True)
        if strict and strings:
            status = status or 1
    if status == 0:
        shutil.rmtree(html_dir, ignore_errors=True)
        shutil.copytree(work / "_build" / "html", html_dir)
        print(f"The Chinese edition is at: {html_dir / 'index.html'}", flush=True)
    print(f"{LANGUAGE} build:", "OK" if status == 0 else f"FAILED (exit {status})", flush=True)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("extract", help="write the .pot files to _build/gettext/")
    updater = sub.add_parser("update",
                             help="extract, then update locales/zh_CN/LC_MESSAGES/*.po")
    updater.add_argument("--only", nargs="+", metavar="DOC",
                         help="update only these documents (e.g. notebooks/04_pooling)")
    checker = sub.add_parser("check", help="untranslated, fuzzy or out-of-date messages")
    checker.add_argument("--po-only", action="store_true",
                         help="check the .po files only, without extracting")
    builder = sub.add_parser("build", help="build the Chinese edition")
    builder.add_argument("--strict", action="store_true", help="-W -n --keep-going")
    args = parser.parse_args()
    pot_dir = ROOT / "_build" / "gettext"
    if args.command == "extract":
        print(extract(pot_dir))
    elif args.command == "update":
        update(extract(pot_dir), args.only)
        print(f"updated {PO_DIR}")
    elif args.command == "check":
        problems = check(args.po_only)
        for problem in problems:
            print(problem)
        kinds = Counter(p.kind.split(":")[0] for p in problems)
        print(f"{len(problems)} problem(s)" + (f": {dict(kinds)}" if problems else ""))
        return 1 if problems else 0
    elif args.command == "build":
        return build(args.strict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
