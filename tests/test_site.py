"""The published site: the repository address in one place, and what follows from it.

Two builds of a two-page copy of the book (tests/site_book.py), one with no address and one
with ``BOOK_REPOSITORY=alice/lenet-book``, checked with the browser check's own static
rules: no dead buttons without an address, working links to it with one, sitemap, social-card
tags, favicon, logo, 404 page and the git date on both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from site_book import build, tiny_site

ROOT = Path(__file__).resolve().parent.parent
REPO = "https://github.com/alice/lenet-book"
SITE = "https://alice.github.io/lenet-book/"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


site_config = _load("site_config")
browser_check = _load("browser_check")


# --- the one place ---------------------------------------------------------------------

def test_config_invents_no_repository_address() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"] == ""
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert "lenet-first-principles" not in text
    assert not config["launch_buttons"]["binderhub_url"]
    assert not config["html"]["use_repository_button"]


@pytest.mark.parametrize(("given", "url"), [
    ("alice/lenet-book", REPO), (REPO, REPO), (REPO + ".git", REPO), (REPO + "/", REPO),
    ("", ""), (None, ""),
])
def test_repository_normalized(given: str | None, url: str) -> None:
    assert site_config.normalize_repository(given) == url


@pytest.mark.parametrize("bad", ["alice", "ftp://github.com/a/b", "https://github.com/a"])
def test_bad_repository_named(bad: str) -> None:
    with pytest.raises(ValueError, match="repository"):
        site_config.normalize_repository(bad)


def test_site_url_of_a_project_and_of_a_user_site() -> None:
    assert site_config.default_site_url(REPO) == SITE
    assert site_config.default_site_url("https://github.com/Alice/alice.github.io") == \
        "https://alice.github.io/"


def test_environment_overrides_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOK_REPOSITORY", "bob/book")
    assert site_config.repository_of({"repository": {"url": REPO}}) == \
        "https://github.com/bob/book"
    monkeypatch.delenv("BOOK_REPOSITORY")
    assert site_config.repository_of({"repository": {"url": REPO}}) == REPO


def test_generated_config_without_and_with_an_address() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    off = site_config.site_config(config, ROOT, "")
    on = site_config.site_config(config, ROOT, REPO)
    for key in ("use_repository_button", "use_issues_button"):
        assert off["html"][key] is False and on["html"][key] is True
    assert not off["launch_buttons"]["binderhub_url"] and not off["launch_buttons"]["colab_url"]
    assert on["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert "sphinx_sitemap" not in off["sphinx"]["extra_extensions"]
    assert "sphinx_sitemap" in on["sphinx"]["extra_extensions"]
    assert "baseurl" not in off["html"] and on["html"]["baseurl"] == SITE
    assert off["sphinx"]["config"]["notfound_urls_prefix"] == "/"
    assert on["sphinx"]["config"]["notfound_urls_prefix"] == "/lenet-book/"
    assert on["sphinx"]["config"]["ogp_site_url"] == SITE
    # local extensions resolve from the book root, wherever the file is written
    assert all(Path(p).is_absolute() for p in on["sphinx"]["local_extensions"].values())


# --- two builds, checked by the browser check's static rules ----------------------------

@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, repository in (("none", ""), ("alice", "alice/lenet-book")):
        root = tiny_site(tmp_path_factory.mktemp(name) / "book")
        result = build(root, repository)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        out[name] = root / "_build" / "html"
    return out


def _problems(html: Path, repository: str, site_url: str) -> list[str]:
    problems = browser_check.site_wide_problems(html, repository, site_url)
    base_path = "/lenet-book/" if site_url else "/"
    for rel in browser_check.pages_of(html):
        page = html / rel
        problems += browser_check.site_problems(html, page, repository, site_url)
        problems += browser_check.static_problems(html, page, base_path)
    return problems


def test_build_without_address_has_no_dead_buttons(sites: dict[str, Path]) -> None:
    html = sites["none"]
    assert browser_check.site_settings(html) == ("", "")
    assert _problems(html, "", "") == []
    assert not (html / "sitemap.xml").exists()
    page = (html / "notebooks" / "01_tiny.html").read_text(encoding="utf-8")
    assert "mybinder.org" not in page and "github.com" not in page


def test_build_with_address_links_to_it(sites: dict[str, Path]) -> None:
    html = sites["alice"]
    assert browser_check.site_settings(html) == (REPO, SITE)
    assert _problems(html, REPO, SITE) == []
    sitemap = (html / "sitemap.xml").read_text(encoding="utf-8")
    assert f"<loc>{SITE}notebooks/01_tiny.html</loc>" in sitemap
    page = (html / "notebooks" / "01_tiny.html").read_text(encoding="utf-8")
    assert "https://mybinder.org/v2/gh/alice/lenet-book/main?urlpath=" in page
    assert "colab.research.google.com/github/alice/lenet-book/blob/main/notebooks/" in page
    # the 404 page's links are absolute under the site's path, so it works at any depth
    assert 'href="/lenet-book/_static/' in (html / "404.html").read_text(encoding="utf-8")


def test_the_check_catches_dead_and_missing_buttons(sites: dict[str, Path]) -> None:
    dead = _problems(sites["alice"], "", "")
    assert any("dead button" in p for p in dead), dead
    missing = _problems(sites["none"], REPO, SITE)
    assert any("no repository button" in p for p in missing), missing
    assert any("no Binder button" in p for p in missing), missing
    assert any("no sitemap.xml" in p for p in missing), missing


def test_every_page_has_card_tags_favicon_logo_and_date(sites: dict[str, Path]) -> None:
    page = sites["none"] / "notebooks" / "01_tiny.html"
    parsed = browser_check.parse_page(page)
    assert parsed.meta["og:title"] == "A chapter"
    assert parsed.icons and parsed.logos
    assert "Last updated on 2026-01-02" in page.read_text(encoding="utf-8")
    assert "copybutton.js" in page.read_text(encoding="utf-8")


def test_logo_and_favicon_are_drawn_by_the_script(tmp_path: Path) -> None:
    draw_logo = _load("draw_logo")
    assert draw_logo.favicon_svg() == (ROOT / "book/_static/favicon.svg").read_text()
    assert draw_logo.logo_svg() == (ROOT / "book/_static/logo.svg").read_text()
    assert (ROOT / "book/_static/logo.png").stat().st_size > 1000
