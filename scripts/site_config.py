"""Write the configuration a build uses: _config.yml, plus what follows from the repository's
address.

The address lives in one place, ``repository.url`` in ``_config.yml`` (empty by default).
``$BOOK_REPOSITORY`` overrides it at build time: the publishing workflow sets it from
``github.repository`` (``owner/name``) or a full ``https://github.com/owner/name`` URL.

* No address: no repository, issue, edit or launch buttons (they would lead nowhere), no
  sitemap (it needs the site's absolute address), the 404 page's links start at ``/``.
* An address: the repository and issue buttons link to it, the launch buttons open the
  chapter's notebook from it on Binder and Colab, the sitemap lists every page under the
  site's address (``$BOOK_SITE_URL``, else ``https://OWNER.github.io/NAME/``), social-card
  tags carry absolute links, and the 404 page's links start at the site's path (``/NAME/``).

Relative paths in _config.yml (local extensions) are resolved against the book root, so the
written file can live anywhere (the scripts write ``_build/_site_config.yml``).

Editions: ``--language zh_CN`` writes the configuration of the Chinese edition (see
scripts/i18n.py): the same sources, Sphinx's ``language`` set, the translations read from
``locales/``, the notebooks executed into an execution cache of the edition's own (they run
with ``LENET_LANG`` set, so that figures draw their words in the edition's language), and
every address one folder deeper (``zh_CN/``), where the edition is published.
``LANGUAGES`` lists the editions; the first is the site's root. Pages link to an edition only
where the book has its translations (``locales/LANG``).

Usage: python scripts/site_config.py [BOOK_ROOT] [--out FILE] [--repository URL]
       [--site-url URL] [--language LANG]; prints the path written.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BINDERHUB = "https://mybinder.org"
COLAB = "https://colab.research.google.com"
_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

#: The book's editions: language code -> (folder under the site's root, the edition's title,
#: the switcher's label for a link *to* this edition). The first edition is at the root.
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "en": ("", "LeNet from First Principles", "English"),
    "zh_CN": ("zh_CN/", "从第一性原理理解 LeNet", "中文"),
}


def normalize_repository(value: str | None) -> str:
    """``owner/name`` or a GitHub URL -> ``https://github.com/owner/name`` ('' stays '')."""
    value = (value or "").strip().rstrip("/")
    value = value.removesuffix(".git")
    if not value:
        return ""
    if _OWNER_NAME.match(value):
        return f"https://github.com/{value}"
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc and \
            _OWNER_NAME.match(parts.path.strip("/")):
        return f"https://{parts.netloc}/{parts.path.strip('/')}"
    raise ValueError(f"repository: expected 'owner/name' or https://HOST/owner/name, got {value!r}")


def repository_of(config: dict) -> str:
    """The repository address: $BOOK_REPOSITORY if set, else _config.yml's repository.url."""
    env = os.environ.get("BOOK_REPOSITORY", "").strip()
    return normalize_repository(env or (config.get("repository") or {}).get("url"))


def default_site_url(repository: str) -> str:
    """Where GitHub Pages publishes a repository's site: https://OWNER.github.io/NAME/."""
    owner, name = urlsplit(repository).path.strip("/").split("/")
    if name.lower() == f"{owner.lower()}.github.io":
        return f"https://{name.lower()}/"
    return f"https://{owner.lower()}.github.io/{name}/"


#: The toggle of a hidden code cell, per edition ({type}: source, outputs or content).
CODE_PROMPTS = {"zh_CN": ("显示代码单元", "隐藏代码单元")}


def check_language(language: str) -> str:
    """``language`` if the book has that edition, else a ValueError naming the editions."""
    if language not in LANGUAGES:
        raise ValueError(f"language: expected one of {', '.join(LANGUAGES)}, got {language!r}")
    return language


def site_config(config: dict, root: Path, repository: str = "", site_url: str = "",
                language: str = "en") -> dict:
    """The build configuration for ``repository`` ('' = none) and the edition in ``language``
    from the parsed _config.yml."""
    folder, title, _ = LANGUAGES[check_language(language)]
    out = copy.deepcopy(config)
    sphinx = out.setdefault("sphinx", {})
    sphinx["local_extensions"] = {name: str((root / path).resolve()) for name, path in
                                  (sphinx.get("local_extensions") or {}).items()}
    extensions = [e for e in sphinx.get("extra_extensions") or [] if e != "sphinx_sitemap"]
    sphinx["extra_extensions"] = extensions
    conf = sphinx.setdefault("config", {})
    html = out.setdefault("html", {})
    launch = out.setdefault("launch_buttons", {})
    out.setdefault("repository", {})["url"] = repository
    on = bool(repository)
    html["use_repository_button"] = on
    html["use_issues_button"] = on
    html["use_edit_page_button"] = on
    launch["binderhub_url"] = BINDERHUB if on else ""
    launch["colab_url"] = COLAB if on else ""
    prefix = "/"
    if on:
        site_url = site_url.strip() or default_site_url(repository)
        site_url = (site_url if site_url.endswith("/") else site_url + "/") + folder
        prefix = urlsplit(site_url).path or "/"
        html["baseurl"] = site_url
        extensions.append("sphinx_sitemap")
        conf["sitemap_url_scheme"] = "{link}"
        # the sitemap lists pages worth finding, not the 404, search and index pages
        conf["sitemap_excludes"] = ["404.html", "search.html", "genindex.html",
                                    "py-modindex.html"]
        if "sphinxext.opengraph" in extensions:
            conf["ogp_site_url"] = site_url
    else:
        html.pop("baseurl", None)
        conf.pop("ogp_site_url", None)
        conf.pop("ogp_image", None)   # a relative og:image would point nowhere
    # (a value of an extension the book does not load would be an "unknown config" warning)
    if not on and folder:
        prefix = "/" + folder
    # read by book/_ext/book_tweaks.py, which links every page to the other editions (a book
    # without that extension would warn about unknown settings)
    if "book_tweaks" in sphinx["local_extensions"]:
        conf["book_language"] = language
        conf["book_editions"] = {
            code: {"folder": f, "label": label} for code, (f, _, label) in LANGUAGES.items()
            if code == language or not f or (root / "locales" / code).is_dir()}
    if language != "en":
        out["title"] = title
        conf["language"] = language
        # myst-nb's toggle of a hidden cell ("Show code cell source")
        conf["nb_code_prompt_show"], conf["nb_code_prompt_hide"] = CODE_PROMPTS[language]
        conf["locale_dirs"] = [str((root / "locales").resolve())]
        conf["gettext_compact"] = False
        # the notebooks run again with LENET_LANG set (scripts/i18n.py), so that figures
        # draw their words in this language; a cache of its own keeps the English outputs,
        # named after the figure-text table, so that a changed table runs them afresh
        table = root / "lenet" / "locale" / f"{language}.json"
        digest = hashlib.sha256(table.read_bytes()).hexdigest()[:12] if table.is_file() \
            else "none"
        out.setdefault("execute", {})["cache"] = str(
            (root / "_build" / f".jupyter_cache_{language}_{digest}").resolve())
    if "notfound.extension" in extensions:
        conf["notfound_urls_prefix"] = prefix
        context = conf.get("notfound_context")
        if isinstance(context, dict) and "body" in context:
            if language == "zh_CN":
                context.update(title="找不到页面", body=(
                    '<h1>找不到页面</h1><p>这个页面不存在（或已移走）。请从<a href="/">前言</a>'
                    '重新开始，或使用搜索。</p>'))
            context["body"] = context["body"].replace('href="/"', f'href="{prefix}"')
    return out


def write_site_config(root: Path, out: Path, repository: str | None = None,
                      site_url: str | None = None, language: str = "en") -> Path:
    """Write the build configuration for the book at ``root`` (its edition in ``language``)
    to ``out``; return ``out``."""
    import yaml  # here, so that normalize_repository needs nothing outside the stdlib

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repository = normalize_repository(repository) if repository else repository_of(config)
    site_url = site_url or os.environ.get("BOOK_SITE_URL", "")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(site_config(config, root, repository, site_url, language),
                          sort_keys=False, allow_unicode=True)
    out.write_text("# Written by scripts/site_config.py from _config.yml: edit that file.\n"
                   + text, encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=None,
                        help="file to write (default: ROOT/_build/_site_config.yml)")
    parser.add_argument("--repository", default=None,
                        help="owner/name or URL (default: $BOOK_REPOSITORY, else _config.yml)")
    parser.add_argument("--site-url", default=None,
                        help="where the site is published (default: $BOOK_SITE_URL, else "
                             "https://OWNER.github.io/NAME/)")
    parser.add_argument("--language", default="en",
                        help=f"the edition: {', '.join(LANGUAGES)} (default: en)")
    args = parser.parse_args()
    root = args.root.resolve()
    try:
        out = write_site_config(root, args.out or root / "_build" / "_site_config.yml",
                                args.repository, args.site_url, args.language)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
