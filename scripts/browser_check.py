"""Open every page of the built book in headless Chromium, offline, and check that it renders.

Checks, page by page (the book is served from 127.0.0.1 on a free port; nothing else is
reachable, and any request to another host is an error):

* no SEVERE message in the browser console and no request leaves 127.0.0.1;
* every <script src>, <link href> and <img src> is a local file that exists;
* math is rendered: on a page with math, every math element holds MathJax output
  (``mjx-container``), and no raw ``$...$`` or ``\\(...\\)`` is left in the visible text;
* every <img> has loaded (``naturalWidth > 0``), and a chapter shows at least one figure for
  each cell of its notebook that calls ``plt.show()`` (a kernel left on a non-interactive
  matplotlib backend executes cleanly but draws nothing);
* every dropdown admonition (exercise solutions) is collapsed behind its toggle button;
* every internal link points to a file that exists, and every ``#anchor`` exists as an id
  in the page it points to;
* the search page (``search.html?q=LeNet``) lists results that mention LeNet;
* what a published site needs, on every chapter and book page: social-card meta tags
  (``og:title``, ``og:type``, ``og:site_name``; absolute ``og:url`` with an address), a
  favicon that loads, the logo, a "Last updated on" date (from git), a copy button on every
  code block (the source pages of the API reference excepted); a 404 page that renders when
  a missing address is requested at any depth;
* the repository's address, read from the configuration the build used
  (``_build/_site_config.yml``, written by scripts/site_config.py): with none, no repository,
  issue, edit or launch button is shown (they would lead nowhere); with one, the repository and
  issue buttons link to it, each chapter's Binder and Colab buttons open that chapter's
  notebook from it, and ``sitemap.xml`` lists every page under the site's address. The book is
  served under the site's path (``/NAME/``), as GitHub Pages serves it.

Screenshots of the introduction and of the first chapter go to ``--screenshots``.
Chromium and its driver come from Debian (``apt-get install chromium chromium-driver``,
run by this script when /usr/bin/chromium is missing, with a Chinese font when the machine
has none); the Python driver is selenium.

Usage: python scripts/browser_check.py [HTML_DIR] [--screenshots DIR] [--only PAGE ...]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.etree import ElementTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
import system_packages  # noqa: E402  (scripts/system_packages.py)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000", "--hide-scrollbars",
)
#: Pages whose first chapter screenshot is wanted, in order of preference.
SCREENSHOTS = {"intro": ["book/intro.html"],
               "chapter1": ["notebooks/01_lenet5_layer_by_layer.html"]}
SKIP_SCHEMES = ("http:", "https:", "mailto:", "javascript:", "data:", "tel:")
RAW_MATH = re.compile(r"(?<![\\$\w])\$[^$\s][^$\n]{0,200}?\$(?!\w)|\\\(.{1,200}?\\\)|\$\$")


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver when they are missing (needs root).

    Noto CJK (fonts-noto-cjk) comes with them when the machine lacks it, so that the Chinese
    edition renders in screenshots as it does on a reader's machine, not as empty boxes.
    """
    packages = [] if CHROMIUM.exists() and CHROMEDRIVER.exists() else [
        "chromium", "chromium-driver"]
    if not system_packages.has_cjk_font():
        packages.append(system_packages.CJK_FONT_PACKAGE)
    if packages:
        system_packages.apt_install(packages, "the browser check")


class _PageParser(HTMLParser):
    """Collect ids and the URLs a page references, by kind."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []        # <a href>: navigation
        self.assets: list[str] = []       # <script src>, <link href>, <img src>: loaded at render
        self.has_math = False
        self.meta: dict[str, str] = {}    # <meta property="og:..."> and <meta name=...>
        self.icons: list[str] = []        # <link rel="icon">
        self.logos: list[str] = []        # <img class="logo__image">
        self.classes: set[str] = set()    # every class used on the page
        self.lang = ""                    # <html lang>
        self.switch: list[str] = []       # the language switcher's links to other editions
        self.refresh = ""                 # <meta http-equiv="refresh" content="0; url=...">

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(a[key])
        classes = a.get("class", "").split()
        self.classes.update(classes)
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "a" and "book-language-link" in classes:
            self.switch.append(a.get("href", ""))
        if "math" in classes:
            self.has_math = True
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            match = re.search(r"url\s*=\s*['\"]?([^'\"]+)", a.get("content", ""), re.I)
            self.refresh = match.group(1).strip() if match else ""
        if tag == "meta" and (a.get("property") or a.get("name")):
            self.meta[a.get("property") or a["name"]] = a.get("content", "")
        if tag == "img" and "logo__image" in classes:
            self.logos.append(a.get("src", ""))
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag in ("script", "img") and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "link" and a.get("href"):
            rel = set(a.get("rel", "").lower().split())
            loaded = rel & {"stylesheet", "preload", "icon", "modulepreload", "manifest"}
            if "icon" in rel:
                self.icons.append(a["href"])
            (self.assets if loaded else self.links).append(a["href"])


@functools.cache
def parse_page(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _local_target(html_dir: Path, page: Path, path: str, base_path: str) -> Path | None:
    """The file a URL path refers to; an absolute path counts from the site's path."""
    if path.startswith("/"):
        if not path.startswith(base_path):
            return None
        return (html_dir / unquote(path[len(base_path):])).resolve()
    return (page.parent / unquote(path)).resolve()


def static_problems(html_dir: Path, page: Path, base_path: str = "/") -> list[str]:
    """Local files and anchors that a page references but that do not exist; external assets.

    ``base_path`` is the path the site is served under (``/NAME/`` on GitHub Pages): the 404
    page's links are absolute, so that it works at any depth.
    """
    problems = []
    parsed = parse_page(page)
    for url in parsed.assets:
        if url.startswith(("http:", "https:", "//")):
            problems.append(f"external asset loaded at render: {url}")
            continue
        if url.startswith("data:"):
            continue
        target = _local_target(html_dir, page, urlsplit(url).path, base_path)
        if target is None:
            problems.append(f"asset outside the site's path {base_path}: {url}")
        elif not target.is_file():
            problems.append(f"missing asset: {url}")
    for url in parsed.links:
        if url.startswith(SKIP_SCHEMES) or url.startswith("//") or url in ("", "#"):
            continue
        parts = urlsplit(url)
        target = _local_target(html_dir, page, parts.path, base_path) if parts.path else page
        if target is None:
            problems.append(f"link outside the site's path {base_path}: {url}")
            continue
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"broken link: {url}")
            continue
        if html_dir.resolve() not in target.parents:
            problems.append(f"link leaves the book: {url}")
            continue
        anchor = unquote(parts.fragment)
        if anchor and target.suffix == ".html" and anchor not in parse_page(target).ids:
            problems.append(f"missing anchor: {url}")
    return problems


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the book under ``base_path`` and answers a missing file with 404.html, as
    GitHub Pages does."""

    base_path = "/"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        path = urlsplit(path).path
        inside = path.startswith(self.base_path)
        return super().translate_path(
            "/" + path[len(self.base_path):] if inside else "/.outside-the-site")

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass   # the browser stopped listening (e.g. a favicon probe)


def serve(html_dir: Path, base_path: str = "/") -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(type("Handler", (_SiteHandler,), {"base_path": base_path}),
                                directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{base_path}"


# --- what a published site needs -------------------------------------------------------

#: Buttons that lead to the repository; none may be shown when it has no address.
REPOSITORY_BUTTONS = ("btn-source-repository-button", "btn-source-issues-button",
                      "btn-source-edit-button", "dropdown-launch-buttons")


def site_settings(html_dir: Path) -> tuple[str, str]:
    """(repository URL, site URL) the build used ('' when none), from the configuration
    scripts/site_config.py wrote beside the html folder."""
    import yaml

    config_file = html_dir.parent / "_site_config.yml"
    if not config_file.is_file():
        return "", ""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    return ((config.get("repository") or {}).get("url") or "",
            (config.get("html") or {}).get("baseurl") or "")


#: The editions: folder under the site's root -> (html lang, a search query that must find
#: chapters, what the 404 page says). The English edition is at the root.
EDITIONS = {"": ("en", "LeNet", "Page not found"),
            "zh_CN/": ("zh-CN", "卷积", "找不到页面")}
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: Text that shows an encoding went wrong: the replacement character, or UTF-8 read as Latin-1
MOJIBAKE = re.compile(r"\ufffd|Ã[\x80-\xbf]|â€|å[\x80-\xbf]|æ[\x80-\xbf]|ä¸")


def edition_of(rel: str) -> tuple[str, str]:
    """(edition folder, path inside that edition) of a page path relative to the site."""
    for folder in EDITIONS:
        if folder and rel.startswith(folder):
            return folder, rel[len(folder):]
    return "", rel


def is_content_page(rel: str) -> bool:
    """A page of the book's text (a chapter or a book/ page) in any edition, not search or
    the index."""
    rel = edition_of(rel)[1]
    return rel.startswith(("book/", "notebooks/")) and rel.endswith(".html")


def edition_problems(html_dir: Path, page: Path, editions: list[str]) -> list[str]:
    """The page's language, and its switcher: a link to the same page in every other edition
    that was built."""
    rel = page.relative_to(html_dir).as_posix()
    folder, inner = edition_of(rel)
    parsed = parse_page(page)
    lang = EDITIONS[folder][0]
    if not is_content_page(rel):
        return []
    problems = [] if parsed.lang == lang else [f"<html lang> is {parsed.lang!r}, not {lang!r}"]
    if len(editions) < 2:
        return problems
    if folder:
        # every glued number of the English page is pasted into the translation too
        english = html_dir / inner
        glued = [p.read_text(encoding="utf-8", errors="replace").count('"pasted-text"')
                 for p in (english, page) if p.is_file()]
        if len(glued) == 2 and glued[0] != glued[1]:
            problems.append(f"{glued[1]} glued values, the English page has {glued[0]}")
    targets = {_local_target(html_dir, page, urlsplit(url).path, "/") for url in parsed.switch}
    for other in editions:
        if other != folder and (html_dir / other / inner).resolve() not in targets:
            problems.append(f"no language switch to {other}{inner}")
    return problems


def site_problems(html_dir: Path, page: Path, repository: str, site_url: str) -> list[str]:
    """Social-card tags, favicon, logo, last-updated date and repository buttons of a page."""
    rel = page.relative_to(html_dir).as_posix()
    if not is_content_page(rel):
        return []
    rel = edition_of(rel)[1]
    parsed = parse_page(page)
    problems = [f"no {prop} meta tag (link previews)" for prop in
                ("og:title", "og:type", "og:site_name") if not parsed.meta.get(prop)]
    if site_url and not parsed.meta.get("og:url", "").startswith(site_url):
        problems.append(f"og:url is not under {site_url}: {parsed.meta.get('og:url')!r}")
    if not parsed.icons:
        problems.append("no favicon (<link rel=icon>)")
    if not parsed.logos:
        problems.append("no logo image")
    if not re.search("Last updated on|最后更新于|上次更新时间", page.read_text(encoding="utf-8",
                                                               errors="replace")):
        problems.append("no 'Last updated on' date (sphinx-last-updated-by-git)")
    if not repository:
        problems += [f"{button} shown, but the repository has no address: a dead button"
                     for button in REPOSITORY_BUTTONS if button in parsed.classes]
        problems += [f"launch link with no repository address: {url}" for url in parsed.links
                     if "mybinder.org" in url or "colab.research.google.com" in url]
        return problems
    owner_name = urlsplit(repository).path.strip("/")
    if repository not in parsed.links:
        problems.append(f"no repository button linking to {repository}")
    if not any(url.startswith(f"{repository}/issues") for url in parsed.links):
        problems.append(f"no issue button linking to {repository}/issues")
    if rel.startswith("notebooks/"):
        notebook = rel[: -len(".html")] + ".ipynb"
        for service, prefix in (("Binder", f"https://mybinder.org/v2/gh/{owner_name}/"),
                                ("Colab", ("https://colab.research.google.com/github/"
                                           f"{owner_name}/blob/"))):
            if not any(url.startswith(prefix) and url.endswith(notebook)
                       for url in parsed.links):
                problems.append(f"no {service} button opening {notebook} from {repository}")
    return problems


def site_wide_problems(html_dir: Path, repository: str, site_url: str) -> list[str]:
    """The 404 page exists; with an address, the sitemap lists every page under the site."""
    problems = [] if (html_dir / "404.html").is_file() else ["no 404.html"]
    if not repository:
        return problems
    sitemap = html_dir / "sitemap.xml"
    if not sitemap.is_file():
        return problems + ["no sitemap.xml, though the site's address is known"]
    namespace = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    locs = [e.text or "" for e in ElementTree.parse(sitemap).iter(f"{namespace}loc")]
    problems += [f"sitemap entry not under {site_url}: {loc}" for loc in locs
                 if not loc.startswith(site_url)]
    listed = {loc[len(site_url):] for loc in locs}
    problems += [f"sitemap.xml does not list {rel}" for rel in pages_of(html_dir)
                 if is_content_page(rel) and rel not in listed]
    return problems


def make_driver(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(RENDER_LIMIT_S)
    driver.set_script_timeout(RENDER_LIMIT_S)
    return driver


def figure_problems(html_dir: Path, page: Path, source_root: Path) -> list[str]:
    """A page built from a notebook must show a figure for every ``plt.show()`` cell."""
    inner = edition_of(page.relative_to(html_dir).as_posix())[1]
    notebook = (source_root / inner).with_suffix(".ipynb")
    if not notebook.is_file():
        return []
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    plots = sum("plt.show()" in "".join(c["source"]) for c in cells if c["cell_type"] == "code")
    figures = sum("_images/" in url for url in parse_page(page).assets)
    if figures < plots:
        return [(f"{plots} cells of {notebook.name} call plt.show(), but the page shows only "
                 f"{figures} figure(s): did the kernel run with a non-interactive backend?")]
    return []


# Waits for MathJax (when the page loads it), makes lazy images load, and reports what rendered.
_RENDER_JS = """
const done = arguments[arguments.length - 1];
(async () => {
  // the load event can fire before deferred scripts (MathJax, copybutton) have run on a busy
  // machine: wait for the document to be complete and for MathJax to have started
  const until = async (ready, ms) => {
    const start = Date.now();
    while (!ready() && Date.now() - start < ms) await new Promise(r => setTimeout(r, 50));
  };
  await until(() => document.readyState === 'complete' && document.body, 30000);
  if (document.querySelector('script[src*="mathjax"]')) {
    await until(() => window.MathJax && MathJax.startup && MathJax.startup.promise, 30000);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise, new Promise(r => setTimeout(r, 30000))]);
  }
  const imgs = Array.from(document.images);
  imgs.forEach(img => { img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.complete ? null :
      new Promise(r => { img.onload = img.onerror = r; setTimeout(r, 10000); })));
  const badImgs = imgs.filter(img => !(img.complete && img.naturalWidth > 0))
                      .map(img => img.getAttribute('src'));
  const maths = Array.from(document.querySelectorAll('.math'));
  const unrendered = maths.filter(m => !m.querySelector('mjx-container'))
                          .map(m => m.textContent.slice(0, 80));
  // sphinx-togglebutton turns each dropdown admonition into a collapsed block with a button
  const dropdowns = Array.from(document.querySelectorAll('.admonition.dropdown'));
  const badDropdowns = dropdowns.filter(d => !d.querySelector('button.toggle-button')
                                             || !d.classList.contains('toggle-hidden'))
                                .map(d => d.textContent.trim().slice(0, 60));
  const icon = document.querySelector('link[rel~="icon"]');
  const iconOk = icon ? (await fetch(icon.href)).ok : false;
  const nCode = document.querySelectorAll('div.highlight pre').length;
  const nCopy = document.querySelectorAll('button.copybtn').length;
  const clone = document.querySelector('main') ? document.querySelector('main').cloneNode(true)
                                               : document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, textarea, .highlight')
       .forEach(e => e.remove());
  done({badImgs, nMath: maths.length,
        nRendered: document.querySelectorAll('mjx-container').length,
        unrendered, badDropdowns, iconOk, nCode, nCopy, text: clone.textContent});
})().catch(e => done({error: String(e)}));
"""


#: Seconds a page may take to load, and then to render (_RENDER_JS waits at most 30 s for the
#: document, 30 s for MathJax to start, 30 s for it to typeset and 10 s for the images).
RENDER_LIMIT_S = 150


def render(driver, url: str, lands_on: str | None = None) -> dict:
    """Open ``url`` and wait until it is rendered: _RENDER_JS's findings, or ``{"error": ...}``
    when the page failed to load or render in time (reported, not raised, so that the check
    goes on with the other pages).

    A page that redirects (``<meta http-equiv="refresh">``) is rendered where it lands, which
    must be ``lands_on``: run on the redirecting page, the render script could be cut off by
    the navigation, which chromedriver reports as a script timeout."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        driver.get(url)
    except TimeoutException:
        return {"error": f"did not load within {RENDER_LIMIT_S} s"}
    started = time.monotonic()
    try:
        if lands_on:
            WebDriverWait(driver, RENDER_LIMIT_S).until(lambda d: d.current_url == lands_on)
        return driver.execute_async_script(_RENDER_JS)
    except TimeoutException:
        took = time.monotonic() - started
        if lands_on and driver.current_url != lands_on:
            return {"error": f"redirects to {lands_on}, but the browser is still at "
                             f"{driver.current_url} after {took:.0f} s"}
        if took < RENDER_LIMIT_S:   # chromedriver's word for a script cut off by navigation
            return {"error": f"the render script was cut off after {took:.0f} s "
                             f"(the browser is at {driver.current_url})"}
        return {"error": f"did not render within {RENDER_LIMIT_S} s"}


def check_page(driver, base: str, rel: str, parsed: _PageParser) -> list[str]:
    problems = []
    lands_on = urljoin(base + rel, parsed.refresh) if parsed and parsed.refresh else None
    result = render(driver, base + rel, lands_on)
    if result.get("error"):
        return [f"render script failed: {result['error']}"]
    for src in result["badImgs"]:
        problems.append(f"image did not load: {src}")
    if parsed.has_math and result["nRendered"] == 0:
        problems.append("page has math but MathJax rendered nothing")
    for text in result["unrendered"]:
        problems.append(f"math not rendered: {text!r}")
    for text in result["badDropdowns"]:
        problems.append(f"dropdown not collapsed behind a button: {text!r}")
    if is_content_page(rel) and not result["iconOk"]:
        problems.append("the favicon did not load")
    if is_content_page(rel) and result["nCopy"] < result["nCode"]:
        problems.append(f"{result['nCode']} code blocks but {result['nCopy']} copy buttons")
    for match in RAW_MATH.finditer(result["text"]):
        problems.append(f"raw math left in text: {match.group(0)[:80]!r}")
    for match in MOJIBAKE.finditer(result["text"]):
        problems.append(f"mojibake in text: {result['text'][max(match.start() - 20, 0):][:60]!r}")
    folder = edition_of(rel)[0]
    if folder and is_content_page(rel) and len(_CJK.findall(result["text"])) < 100:
        problems.append(f"a page of the {folder.rstrip('/')} edition shows almost no Chinese")
    problems += log_problems(driver, base)
    return problems


def log_problems(driver, base: str, expected: str = "") -> list[str]:
    """SEVERE console messages (but ones naming ``expected``), and requests to anything but
    the local server."""
    problems = [f"console: {e['message'][:300]}" for e in driver.get_log("browser")
                if e["level"] == "SEVERE" and not (expected and expected in e["message"])]
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(base))
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            # chrome:// and the like are the browser's own pages, not the network
            if url.startswith(("http:", "https:", "ws:", "wss:", "ftp:")) \
                    and not url.startswith(origin):
                problems.append(f"network request leaves the machine: {url[:200]}")
    return problems


def check_search(driver, base: str, folder: str = "") -> list[str]:
    """The edition's search page finds its query (``EDITIONS``) in chapter pages."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    query = EDITIONS[folder][1]
    # Sphinx lists the results one by one, then writes their count into the summary: wait
    # for the count, or a chapter listed late reads as missing on a busy machine.
    try:
        driver.get(base + folder + "search.html?q=" + quote(query))
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "const s = document.querySelector('#search-results .search-summary');"
            "return s !== null && /\\d/.test(s.textContent) &&"
            " document.querySelectorAll('#search-results ul.search li').length > 0;"))
    except TimeoutException:
        return [f"search for {query!r} listed no results in time"]
    text, links = driver.execute_script(
        "const r = document.querySelector('#search-results');"
        "return [r.textContent, Array.from(r.querySelectorAll('ul.search li a'))"
        ".map(a => a.getAttribute('href'))];")
    problems = [] if query.lower() in text.lower() else [
        f"search results do not mention {query!r}"]
    if not any("notebooks/" in (href or "") for href in links):
        problems.append(f"search for {query!r} lists no chapter")
    return problems + log_problems(driver, base)


#: A page that does not exist, two folders deep: the 404 page must still find its assets.
MISSING_PAGE = "no/such/chapter.html"


def check_not_found(driver, base: str) -> list[str]:
    """A missing page gets the book's 404 page, rendered with its styles and logo."""
    result = render(driver, base + MISSING_PAGE)
    if result.get("error"):
        return [f"render script failed: {result['error']}"]
    problems = [f"image did not load: {src}" for src in result["badImgs"]]
    if "Page not found" not in result["text"]:
        problems.append("a missing page does not show the book's 404 page")
    if not result["iconOk"]:
        problems.append("the favicon did not load on the 404 page")
    return problems + log_problems(driver, base, expected=MISSING_PAGE)


def screenshot(driver, base: str, rel: str, out: Path) -> None:
    render(driver, base + rel)
    out.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(out))
    height = min(int(driver.execute_script("return document.body.scrollHeight")), 6000)
    driver.set_window_size(1400, max(height, 1000))
    driver.save_screenshot(str(out.with_name(out.stem + "_full.png")))
    driver.set_window_size(1400, 1000)


def pages_of(html_dir: Path) -> list[str]:
    return sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                  if not edition_of(p.relative_to(html_dir).as_posix())[1].startswith(
                      ("_static", "_sources")))


def built_editions(html_dir: Path) -> list[str]:
    """The folders of the editions present under ``html_dir`` (the root one first)."""
    return [folder for folder in EDITIONS if (html_dir / folder / "search.html").is_file()]


def editions_promised(html_dir: Path) -> list[str]:
    """The folders of the editions the root edition's pages link to."""
    promised = []
    for rel in pages_of(html_dir):
        if edition_of(rel)[0] == "" and is_content_page(rel):
            for url in parse_page(html_dir / rel).switch:
                target = _local_target(html_dir, html_dir / rel, urlsplit(url).path, "/")
                inside = target.relative_to(html_dir.resolve()).as_posix() \
                    if target and html_dir.resolve() in target.parents else ""
                promised.append(edition_of(inside)[0])
            break
    return sorted(set(promised) - {""})


def first_chapter(pages: list[str]) -> str | None:
    chapters = [p for p in pages if p.startswith("notebooks/")]
    return chapters[0] if chapters else None


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", type=Path, default=root / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="folder for PNG screenshots (default: HTML/../screenshots)")
    parser.add_argument("--only", nargs="*", default=None, help="check only these pages")
    args = parser.parse_args()
    html_dir = args.html.resolve()
    if not (html_dir / "search.html").is_file():
        print(f"browser check: no built book in {html_dir} (run the strict build first)")
        return 2
    shots = (args.screenshots or html_dir.parent / "screenshots").resolve()
    pages = args.only or pages_of(html_dir)
    failures: dict[str, list[str]] = {}

    repository, site_url = site_settings(html_dir)
    base_path = urlsplit(site_url).path or "/"
    editions = built_editions(html_dir)
    print(f"browser check: repository {repository or '(none: no repository buttons)'}, "
          f"served under {base_path}, editions: "
          + ", ".join(EDITIONS[f][0] for f in editions), flush=True)
    for folder in editions:
        for problem in site_wide_problems(html_dir / folder, repository,
                                          site_url and site_url + folder):
            failures.setdefault(f"({folder or 'site'})", []).append(problem)
    for folder in editions_promised(html_dir):
        if folder not in editions:
            failures.setdefault("(site)", []).append(
                f"the pages link to the {folder.rstrip('/')} edition, which was not built")
    ensure_chromium()
    server, base = serve(html_dir, base_path)
    profile = tempfile.mkdtemp(prefix="lenet-chromium-")
    started = time.monotonic()
    driver = make_driver(profile)
    try:
        for rel in pages:
            page = html_dir / rel
            problems = (static_problems(html_dir, page, base_path)
                        + figure_problems(html_dir, page, root)
                        + site_problems(html_dir, page, repository, site_url)
                        + edition_problems(html_dir, page, editions)
                        + check_page(driver, base, rel, parse_page(page)))
            if problems:
                failures[rel] = problems
        for folder in editions:
            problems = check_search(driver, base, folder)
            if problems:
                failures[f"{folder}search.html?q={EDITIONS[folder][1]}"] = problems
        problems = check_not_found(driver, base)
        if problems:
            failures[MISSING_PAGE] = problems
        for folder in editions:
            chapter = first_chapter(pages_of(html_dir / folder))
            prefix = folder.replace("/", "_")
            for name, rel in (("intro", "book/intro.html"), ("chapter1", chapter)):
                if rel and (html_dir / folder / rel).is_file():
                    screenshot(driver, base, folder + rel, shots / f"{prefix}{name}.png")
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)

    for rel, problems in failures.items():
        print(f"FAIL {rel}")
        for problem in problems:
            print(f"    {problem}")
    n_ok = len(pages) + 2 * len(editions) + 1 - len(failures)
    took = time.monotonic() - started
    print(f"browser check: {len(pages)} pages + search and site of {len(editions)} "
          f"edition(s) + 404 in {took:.0f} s; "
          f"screenshots in {shots}")
    print(f"browser: {n_ok} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
