"""The Chinese edition is kept in step with the English one (scripts/i18n.py).

The whole translation is checked against freshly extracted messages: nothing untranslated,
fuzzy or out of date, every glued value, formula, reference, citation and piece of inline code
kept, and the glossary's Chinese term used wherever the English uses the term. The checks
themselves are shown to fail on catalogs built to break each rule.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


i18n = _load("i18n")
site_config = _load("site_config")
browser_check = _load("browser_check")

TERMS = {"convolution": ["卷积"], "pooling": ["汇聚", "池化"], "stride": ["步幅", "步长"],
         "ReLU": ["修正线性单元"]}


def _catalog(*entries: tuple[str, str] | tuple[str, str, bool]) -> Catalog:
    catalog = Catalog(locale="zh_CN")
    for entry in entries:
        msgid, msgstr, *fuzzy = entry
        catalog.add(msgid, msgstr, flags=("fuzzy",) if fuzzy and fuzzy[0] else ())
    return catalog


def _kinds(catalog: Catalog) -> list[str]:
    return [p.kind for p in i18n.check_catalog("x.po", catalog, TERMS)]


# --- the whole translation --------------------------------------------------------------

@pytest.mark.slow   # extracts the book's messages: a Sphinx build of every page
def test_the_translation_is_complete_and_in_step() -> None:
    """Every message of the book, freshly extracted, is translated, not fuzzy, keeps its
    tokens and uses the glossary's terms; no .po holds a message the book no longer has."""
    problems = i18n.check()
    assert not problems, f"{len(problems)} problem(s), e.g.:\n" + "\n".join(
        map(str, problems[:30])) + "\n(fix with: python scripts/i18n.py update, translate, " \
        "python scripts/i18n.py check)"


def test_glossary_gives_the_terms_the_edition_is_written_in() -> None:
    terms = i18n.glossary_terms()
    wanted = {"convolution": "卷积", "cross-correlation": "互相关", "padding": "填充",
              "stride": "步幅", "channel": "通道", "pooling": "汇聚", "receptive field": "感受野",
              "translation invariance": "平移不变性", "translation equivariance": "平移等变性",
              "atrous convolution": "空洞卷积", "dilated convolution": "扩张卷积",
              "transposed convolution": "转置卷积", "fully connected layer": "全连接层",
              "global average pooling": "全局平均汇聚"}
    for english, chinese in wanted.items():
        assert terms[english][0] == chinese, english
    assert "池化" in terms["pooling"]


# --- each rule, shown to fail -----------------------------------------------------------

def test_a_good_translation_passes() -> None:
    assert _kinds(_catalog(
        ("A {glue:text}`n:,` pixel convolution with stride 2, see {numref}`fig-a` and "
         "{cite}`lecun1998gradient`: $y = Wx$ in `nn.Conv2d`.",
         "步幅为 2 的 {glue:text}`n:,` 像素卷积，见 {numref}`fig-a` 和 "
         "{cite}`lecun1998gradient`：`nn.Conv2d` 中的 $y = Wx$。"),
        ("ReLU after pooling", "汇聚之后的 ReLU"),
        ("LeNet-5", "LeNet-5"),
    )) == []


@pytest.mark.parametrize("msgstr, kind", [
    ("", "untranslated"),
    ("步幅为 2 的卷积，{glue:text}`n:,`，$y = Wx$", "fuzzy"),
    ("步幅为 2 的卷积，1,024 个，$y = Wx$", "glued value dropped or changed"),
    ("步幅为 2 的卷积，{glue:text}`n:,`，y = Wx", "math dropped or changed"),
    ("步幅为 2 的卷积，{glue:text}`n:,`，$y = W x$", "math dropped or changed"),
    ("步长为 2 的 conv，{glue:text}`n:,`，$y = Wx$", "glossary term not used"),
    ("A stride-2 convolution, {glue:text}`n:,`, $y = Wx$", "English kept untranslated"),
])
def test_each_rule_catches_its_fault(msgstr: str, kind: str) -> None:
    msgid = "A stride-2 convolution, {glue:text}`n:,`, $y = Wx$"
    fuzzy = kind == "fuzzy"
    if kind == "English kept untranslated":
        msgstr = msgid
    kinds = _kinds(_catalog((msgid, msgstr, fuzzy)))
    assert any(k.startswith(kind) for k in kinds), kinds


def test_tokens_keep_references_citations_roles_and_code() -> None:
    text = ("{numref}`fig-x` {cite:p}`he2016deep` :func:`lenet.ops.conv2d` ``x`` "
            "`padding=2` $$a$$ $b$ {glue}`k`")
    kinds = {kind for kind, _ in i18n.tokens(text)}
    assert kinds == {"reference", "citation", "inline code", "display math", "math",
                     "glued value"}
    # a docstring's reST role is the same reference as MyST's role in its translation (the
    # API page is MyST); a reference's own text may be translated, its target may not
    assert i18n.tokens(":func:`lenet.ops.conv2d` {doc}`glossary <glossary>`") == \
        i18n.tokens("{func}`lenet.ops.conv2d` {doc}`术语表 <glossary>`")
    assert i18n.tokens(":func:`lenet.ops.conv2d`") != i18n.tokens("{func}`lenet.ops.pool2d`")
    # the same tokens in another order are the same tokens
    assert i18n.tokens("$b$ {glue}`k` " + text.split(" $$")[0] + " $$a$$") == i18n.tokens(text)


def test_out_of_step_catalogs_are_reported(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pots, pos = tmp_path / "gettext", tmp_path / "locales"
    for folder, name, catalog in (
            (pots, "a.pot", _catalog(("One.", ""), ("Two.", ""))),
            (pots, "b.pot", _catalog(("Three.", ""))),
            (pos, "a.po", _catalog(("One.", "一。"), ("Old.", "旧。"))),
            (pos, "gone.po", _catalog(("Four.", "四。")))):
        folder.mkdir(exist_ok=True)
        with (folder / name).open("wb") as handle:
            write_po(handle, catalog)
    monkeypatch.setattr(i18n, "PO_DIR", pos)
    found = {(p.file, p.kind.split(":")[-1].strip(), p.message)
             for p in i18n.check_in_step(pots)}
    assert found == {
        ("a.po", "message missing from the .po", "Two."),
        ("a.po", "message no longer in the book", "Old."),
        ("b.po", "no .po file (run scripts/i18n.py update)", "b.po"),
        ("gone.po", "document no longer in the book", "gone.po"),
    }


# --- the edition's configuration and its switcher ---------------------------------------

def test_chinese_configuration(tmp_path: Path) -> None:
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    zh = site_config.site_config(config, ROOT, "https://github.com/alice/lenet-book",
                                 language="zh_CN")
    conf = zh["sphinx"]["config"]
    assert conf["language"] == "zh_CN" and conf["book_language"] == "zh_CN"
    assert conf["locale_dirs"] == [str(ROOT / "locales")]
    # the notebooks run again (figures in Chinese), cached apart from the English outputs and
    # afresh whenever the figure-text table changes
    cache = Path(zh["execute"]["cache"])
    assert cache.parent == ROOT / "_build" and cache.name.startswith(".jupyter_cache_zh_CN_")
    assert zh["execute"].get("execute_notebooks", "cache") == "cache"
    assert zh["html"]["baseurl"] == "https://alice.github.io/lenet-book/zh_CN/"
    assert conf["notfound_urls_prefix"] == "/lenet-book/zh_CN/"
    en = site_config.site_config(config, ROOT, "")
    assert set(en["sphinx"]["config"]["book_editions"]) == {"en", "zh_CN"}
    # a copy of the book without translations links to no Chinese edition
    alone = site_config.site_config(config, tmp_path, "")
    assert set(alone["sphinx"]["config"]["book_editions"]) == {"en"}
    with pytest.raises(ValueError, match="language: expected one of en, zh_CN"):
        site_config.site_config(config, ROOT, "", language="fr")


def _page(path: Path, lang: str, switch: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    link = f'<a class="book-language-link" href="{switch}">x</a>' if switch else ""
    path.write_text(f'<html lang="{lang}"><body>{link}</body></html>', encoding="utf-8")


def test_switcher_check_finds_a_missing_or_wrong_switch(tmp_path: Path) -> None:
    en, zh = tmp_path / "notebooks" / "a.html", tmp_path / "zh_CN" / "notebooks" / "a.html"
    _page(en, "en", "../zh_CN/notebooks/a.html")
    _page(zh, "zh-CN", "../../notebooks/a.html")
    editions = ["", "zh_CN/"]
    assert browser_check.edition_problems(tmp_path, en, editions) == []
    assert browser_check.edition_problems(tmp_path, zh, editions) == []
    browser_check.parse_page.cache_clear()
    _page(zh, "en", "../../notebooks/b.html")   # wrong language, switch to another page
    problems = browser_check.edition_problems(tmp_path, zh, editions)
    assert any("<html lang>" in p for p in problems)
    assert any("no language switch to notebooks/a.html" in p for p in problems)
    browser_check.parse_page.cache_clear()


def test_table_of_contents_words_have_their_chinese() -> None:
    import yaml

    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    words = i18n.toc_words(toc)
    assert "Chapters" in words
    assert all(i18n.TOC_WORDS.get(w) for w in words), [w for w in words
                                                       if w not in i18n.TOC_WORDS]
