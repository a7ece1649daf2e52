"""A local Sphinx extension with two small fixes for this book, and the language switcher.

1. Offline pages. sphinx-thebe (pulled in by Jupyter Book whether or not live code is used)
   adds to every page an inline script declaring ``THEBE_JS_URL``, a CDN address, and under
   Jupyter Book it is added twice, so the browser reports "Identifier 'THEBE_JS_URL' has
   already been declared". The book has no live code (``launch_buttons.thebe: false``), so the
   thebe scripts and stylesheet are dropped from every page.

2. Data docstrings. napoleon reads the first line of a module-level ``#:`` comment as
   ``type: description``, so ``#: Errors that mean "bad input": reported in one line`` turns
   into a bogus type reference that ``-n`` reports. `lenet` gives types as annotations, never
   inline, so napoleon's rewrite of data and attribute docstrings is undone.

3. Editions. The book is built once per language from the same sources (scripts/i18n.py);
   ``book_editions`` maps each language to the folder it is published in (the first at the
   site's root) and ``book_language`` names the one being built. Every page gets a link to
   the same page in each other edition, at the top of the article, and ``<link
   rel="alternate" hreflang>`` tags in its head.

4. Glued numbers in translations. Sphinx parses each translated message as a small document
   of its own, after the notebook has been parsed, so myst-nb's ``{glue:text}`key``` finds no
   notebook there and pastes nothing. In a translated build every such role is rewritten to
   the document-qualified form ``{glue:text}`/notebooks/NN.ipynb::key```, which myst-nb
   resolves after parsing from the glue data it saved for that notebook: the translated page
   shows the same computed numbers as the English one. The .po files keep the plain form.
"""

from __future__ import annotations

import os
import re
from typing import Any

from sphinx.application import Sphinx

_ORIGINAL = "_book_tweaks_original_lines"


def _is_thebe(asset: Any) -> bool:
    text = str(asset) + str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in text.lower()


def drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def keep_data_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                        lines: list[str]) -> None:
    """Before napoleon: remember the docstring lines of data and attributes."""
    if what in ("data", "attribute"):
        app.env.temp_data.setdefault(_ORIGINAL, {})[name] = list(lines)


def restore_data_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                           lines: list[str]) -> None:
    """After napoleon: put the remembered lines back."""
    original = app.env.temp_data.get(_ORIGINAL, {}).pop(name, None)
    if original is not None:
        lines[:] = original


def _hreflang(code: str) -> str:
    return code.replace("_", "-")


def edition_links(app: Sphinx, pagename: str) -> list[tuple[str, str, str]]:
    """``(language, label, relative URL)`` of this page in every other edition."""
    editions = app.config.book_editions or {}
    here = app.config.book_language
    if here not in editions:
        return []
    # from this page up to the site's root: the page's own depth, then this edition's folder
    depth = pagename.count("/") + editions[here]["folder"].count("/")
    up = "../" * depth
    target = app.builder.get_target_uri(pagename)
    return [(code, edition["label"], up + edition["folder"] + target)
            for code, edition in editions.items() if code != here]


def add_switcher(app: Sphinx, pagename: str, templatename: str, context: dict,
                 doctree) -> None:
    links = edition_links(app, pagename)
    if not links or "body" not in context:
        return
    anchors = "".join(
        f'<a class="book-language-link" href="{href}" hreflang="{_hreflang(code)}" '
        f'lang="{_hreflang(code)}">{label}</a>' for code, label, href in links)
    context["body"] = f'<nav class="book-language-switch" aria-label="Language">{anchors}' \
        f"</nav>\n" + context["body"]
    context["metatags"] = context.get("metatags", "") + "".join(
        f'\n<link rel="alternate" hreflang="{_hreflang(code)}" href="{href}" />'
        for code, _, href in links)


_GLUE_TEXT = re.compile(r"\{glue:text\}`(?![^`]*::)([^`]+)`")


def qualify_glue(text: str, document_path: str) -> str:
    """``{glue:text}`key:fmt``` -> ``{glue:text}`/DOC::key:fmt``` (already qualified: kept).

    A key without a format gets the plain one, ``:s``: the qualified form is split at its
    last colon, which would otherwise cut the path.
    """
    def qualified(match: re.Match) -> str:
        key = match.group(1) if ":" in match.group(1) else match.group(1) + ":s"
        return f"{{glue:text}}`/{document_path}::{key}`"

    return _GLUE_TEXT.sub(qualified, text)


def _qualify_translated_glue(app: Sphinx, config: Any) -> None:
    if not config.language or config.language == "en":
        return
    from sphinx.transforms import i18n

    publish = getattr(i18n.publish_msgstr, "__wrapped__", i18n.publish_msgstr)

    def publish_msgstr(app: Sphinx, source: str, source_path: str, *args: Any,
                       **kwargs: Any):
        env = app.env
        if env is not None and env.docname and "{glue:text}" in source:
            path = os.path.relpath(env.doc2path(env.docname), env.srcdir).replace(os.sep, "/")
            source = qualify_glue(source, path)
        return publish(app, source, source_path, *args, **kwargs)

    publish_msgstr.__wrapped__ = publish
    i18n.publish_msgstr = publish_msgstr


def write_index_redirect(app: Sphinx, exception: Exception | None) -> None:
    """The site's ``index.html``: a redirect to the first page, as sphinx-external-toc writes
    it (that extension then leaves an existing file alone), plus the favicon and a title, so
    that a browser opening the bare address asks for no ``/favicon.ico`` outside the book."""
    root = str(app.config.root_doc)
    index = os.path.join(app.outdir, "index.html")
    if exception is not None or app.builder.format != "html" or root == "index":
        return
    icon = os.path.basename(str(app.config.html_favicon or ""))
    lang = str(app.config.language or "en").replace("_", "-")
    title = app.config.html_title or app.config.project
    link = f'<link rel="icon" href="_static/{icon}">\n' if icon else ""
    with open(index, "w", encoding="utf-8") as out:
        out.write(f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n'
                  f'<meta charset="utf-8">\n<title>{title}</title>\n{link}'
                  f'<meta http-equiv="Refresh" content="0; url={root}.html" />\n</head>\n'
                  f'<body><a href="{root}.html">{title}</a></body>\n</html>\n')


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _qualify_translated_glue)
    app.add_config_value("book_language", "en", "html")
    app.add_config_value("book_editions", {}, "html")
    app.connect("html-page-context", add_switcher)
    app.connect("html-page-context", drop_thebe, priority=900)
    # before sphinx-external-toc's own redirect (default priority 500), which then stands back
    app.connect("build-finished", write_index_redirect, priority=400)
    # napoleon processes docstrings at the default priority, 500
    app.connect("autodoc-process-docstring", keep_data_docstring, priority=100)
    app.connect("autodoc-process-docstring", restore_data_docstring, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
