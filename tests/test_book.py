"""The course book (``make book``, docs/book.md): built, linked, complete, and seen in Chromium.

* ``make book`` builds ``_build/html`` with warnings as errors (a broken reference, a missing
  image, a notebook heading that skips a level, a docstring that is not valid reST);
* every internal link and anchor of the built site resolves, checked offline by walking the
  HTML files (links to other sites are not followed);
* every name of ``gradclip_helpers.__all__`` has an entry on the API page, so a new public
  name cannot be left out of the reference;
* every notebook has a page with its "Run this notebook" box (Binder, source ``.ipynb``), one
  image per image output of the committed notebook (figures and widgets' static images), and
  its cells that JupyterLab collapses (the checks) collapsed;
* headless Chromium (Playwright, Debian's Chromium, as in tests/test_browser.py) opens the
  landing page, a notebook page and the API page from a static server on 127.0.0.1: every
  image loads, MathJax typesets the maths, no console error, no request leaves 127.0.0.1, and
  the API page lists ``clip_by_global_norm`` and ``train``. Screenshots go to
  tests/screenshots/ (git-ignored).

Everything stays in this module so that ``--dist loadscope`` runs it on one worker, and the
site is built once. ``pytest -n 0 -rP tests/test_book.py`` prints the build time.
"""

from __future__ import annotations

import functools
import http.server
import inspect
import json
import re
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from chromium import launched_chromium

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "tests" / "screenshots"
BUILD_TIMEOUT_S = 900  # the docs environment (first time) and the build; about 1-2 min here
BROWSER_PAGES = {  # name of the screenshot: page of the site
    "book-landing": "README.html",
    "book-notebook": "notebooks/03_norm_clipping.html",
    "book-api": "docs/api.html",
}


@pytest.fixture(scope="module")
def book() -> Path:
    """``make book``, once; the course's .venv is the one running this test, so it is not remade."""
    start = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "book"],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    elapsed = time.monotonic() - start
    print(f"make book: {elapsed:.0f} s")
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, (
        f"make book failed ({proc.returncode}); warnings are errors:\n" + "\n".join(warnings)
        + f"\n--- last output ---\n{(proc.stdout + proc.stderr)[-3000:]}")
    return HTML


class _Page(HTMLParser):
    """The ids and the link targets (href, src) of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.links.append(attrs[key])
        if tag == "img":
            self.images.append(attrs.get("src", ""))


@functools.cache
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _broken_links(site: Path) -> list[str]:
    """Every internal href/src of every page whose file or anchor is missing."""
    broken = []
    for html in sorted(site.rglob("*.html")):
        if html.relative_to(site).parts[0] in ("_static", "_sources", "_downloads"):
            continue  # the theme's template fragments and copies of the sources, not pages
        page = _parse(html)
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("//", "data:", "javascript:")):
                continue  # other sites (not followed offline), inline data
            target = html if not parts.path else (html.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{html.relative_to(site)}: {link}"
            if not target.is_file() or site.resolve() not in target.resolve().parents:
                broken.append(f"{where} (no file {target})")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _parse(target).ids:
                broken.append(f"{where} (no id {parts.fragment!r} in {target.name})")
    return broken


def test_book_builds_with_warnings_as_errors(book):
    pages = sorted(p.relative_to(book).as_posix() for p in book.rglob("*.html"))
    assert (book / "index.html").is_file() and (book / "README.html").is_file(), pages
    assert "README.html" in (book / "index.html").read_text(), "the site's root must open the landing page"
    for notebook in NOTEBOOKS:
        assert f"notebooks/{notebook.stem}.html" in pages, f"no page for {notebook.name}"
    for page in ("docs/api.html", "docs/helpers.html", "docs/benchmarks.html", "docs/binder.html",
                 "docs/book.html", "CONTRIBUTING.html", "LICENSE-CONTENT.html", "search.html"):
        assert page in pages


def test_internal_links_and_anchors_resolve(book):
    broken = _broken_links(book)
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:40])


def test_link_check_finds_a_broken_link_and_anchor(tmp_path):
    """The walk above is not vacuous: a missing file and a missing anchor are both reported."""
    (tmp_path / "a.html").write_text('<a id="top" href="b.html#nowhere">b</a> <img src="gone.png">'
                                     '<a href="a.html#top">ok</a> <a href="https://example.org/x">out</a>')
    (tmp_path / "b.html").write_text('<h1 id="here">b</h1>')
    broken = _broken_links(tmp_path)
    assert len(broken) == 2 and "nowhere" in broken[0] and "gone.png" in broken[1], broken


def test_every_public_name_is_on_the_api_page(book):
    import gradclip_helpers as gh

    ids = _parse(book / "docs" / "api.html").ids
    missing = [name for name in gh.__all__
               if f"gradclip_helpers.{name}" not in ids and f"module-gradclip_helpers.{name}" not in ids]
    assert not missing, f"add these names of gradclip_helpers.__all__ to docs/api.md: {missing}"


def _documented(obj) -> bool:
    return (inspect.isfunction(obj) or inspect.isclass(obj)) and bool(inspect.getdoc(obj))


def test_members_are_on_the_api_page(book):
    """``:members:`` works: the classes given it list their methods, and the modules whose
    contents are not re-exported (``gh.pascanu``, ``gh.exercises``, ...) list every function."""
    import gradclip_helpers as gh

    ids = _parse(book / "docs" / "api.html").ids
    api = (ROOT / "docs" / "api.md").read_text()
    missing = []
    for name in re.findall(r"autoclass:: gradclip_helpers\.(\w+)\n   :members:", api):
        cls = getattr(gh, name)
        missing += [f"{name}.{member}" for member, value in vars(cls).items()
                    if not member.startswith("_") and inspect.isfunction(value) and inspect.getdoc(value)
                    and f"gradclip_helpers.{name}.{member}" not in ids]
    homes = {getattr(getattr(gh, name), "__module__", None) or "" for name in gh.__all__}
    for name in gh.__all__:
        module = getattr(gh, name)
        if not inspect.ismodule(module) or any(home.startswith(module.__name__) for home in homes):
            continue  # its names are documented one by one, under gradclip_helpers.NAME
        public = getattr(module, "__all__", None) or [
            member for member, value in vars(module).items()
            if not member.startswith("_") and getattr(value, "__module__", None) == module.__name__]
        missing += [f"{name}.{member}" for member in public if _documented(getattr(module, member))
                    and f"gradclip_helpers.{name}.{member}" not in ids]
    assert not missing, f"not on the API page: {missing}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_page_has_run_box_source_and_every_figure(book, notebook):
    html = book / "notebooks" / f"{notebook.stem}.html"
    text = html.read_text(encoding="utf-8")
    rel = f"notebooks/{notebook.name}"
    assert "Run this notebook" in text
    binder = rf"https://mybinder\.org/v2/gh/[^\"?]+\?urlpath=lab/tree/{re.escape(rel)}\""
    assert re.search(binder, text), "no Binder link"
    downloads = [link for link in _parse(html).links if link.endswith(f"/{notebook.name}") and "_downloads" in link]
    assert downloads, "no download link to the source .ipynb"
    assert (html.parent / downloads[0]).read_bytes() == notebook.read_bytes()
    cells = json.loads(notebook.read_text())["cells"]
    images = [output for cell in cells for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]
    hidden = [cell for cell in cells if cell["cell_type"] == "code"
              and cell["metadata"].get("jupyter", {}).get("source_hidden")]
    assert text.count('<details class="admonition hide above-input">') == len(hidden), "checks collapsed in JupyterLab"
    shown = [src for src in _parse(html).images if "/_images/" in src]
    assert len(shown) == len(images), f"{len(images)} image outputs in {notebook.name}, {len(shown)} on its page"
    assert "application/vnd.jupyter.widget-view+json" not in text, "a live widget (nothing to draw it) on the page"


def test_helpers_page_shows_the_readme_usage_section(book):
    """docs/helpers.md includes the README between its helpers markers (the supported models too)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- helpers:start -->")[1].split("<!-- helpers:end -->")[0]
    headings = re.findall(r"^#+ (.+)$", section, re.M)
    page = (book / "docs" / "helpers.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)
    assert "make_optimizer" in text and "ClippingModel" in text, "the README's example is not on the page"
    for heading in headings:
        assert re.sub(r"[`*]", "", heading) in text, f"README heading {heading!r} is not on the helpers page"


def test_ready_to_publish_licences_and_citation():
    """The code's licence text, the content's licence, and a citation that matches the package."""
    import tomllib

    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    content = (ROOT / "LICENSE-CONTENT.md").read_text()
    assert "CC BY 4.0" in content and "https://creativecommons.org/licenses/by/4.0/legalcode" in content
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["message"] and cff["title"] and cff["authors"]
    assert cff["version"] == project["version"], "CITATION.cff and pyproject.toml name other versions"
    assert set(cff["license"]) == {project["license"], "CC-BY-4.0"}
    readme = (ROOT / "README.md").read_text()
    for target in ("(LICENSE)", "(LICENSE-CONTENT.md)", "(CITATION.cff)", "(CONTRIBUTING.md)"):
        assert target in readme, f"the README does not link {target}"


# ----------------------------------------------------------------------------- in Chromium

@pytest.fixture(scope="module")
def site_url(book):
    """The built site from a static server on 127.0.0.1 (a free port), for the module."""
    handler = functools.partial(_QuietHandler, directory=str(book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports failures itself
        pass


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (tests/chromium.py)."""
    with launched_chromium() as chromium:
        yield chromium


IMAGES_JS = """() => [...document.images].map(img => ({src: img.currentSrc || img.src,
    complete: img.complete, width: img.naturalWidth}))"""


def _open(browser, url: str):
    """A page at ``url`` with everything loaded, and what went wrong on the way."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(
        f"console error: {msg.text} ({msg.location.get('url')})"))
    page.on("pageerror", lambda exc: problems.append(f"JavaScript error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    page.on("request", lambda req: urlsplit(req.url).hostname not in ("127.0.0.1", None)
            and not req.url.startswith("data:") and problems.append(f"request off this machine: {req.url}"))
    page.goto(url, wait_until="networkidle", timeout=60_000)
    return page, problems


def _check_images(page) -> list[dict]:
    """Scroll through the page (so that lazy images load too); every image must have pixels."""
    page.evaluate("async () => { for (let y = 0; y < document.body.scrollHeight; y += 800) {"
                  " window.scrollTo(0, y); await new Promise(r => setTimeout(r, 20)); } window.scrollTo(0, 0); }")
    page.wait_for_function("() => [...document.images].every(img => img.complete)", timeout=30_000)
    images = page.evaluate(IMAGES_JS)
    bad = [img for img in images if img["width"] == 0]
    assert not bad, f"images that did not load: {bad}"
    return images


@pytest.mark.parametrize("name", list(BROWSER_PAGES))
def test_book_page_in_chromium(book, site_url, browser, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, problems = _open(browser, f"{site_url}/{BROWSER_PAGES[name]}")
    try:
        images = _check_images(page)
        if name == "book-landing":
            assert any(img["src"].endswith("/headline.png") for img in images), images
            assert page.locator("nav.bd-docs-nav a", has_text="Norm").count() >= 1, "no notebooks in the navigation"
        elif name == "book-notebook":
            notebook = ROOT / "notebooks" / "03_norm_clipping.ipynb"
            figures = sum("image/png" in output.get("data", {}) for cell in json.loads(notebook.read_text())["cells"]
                          for output in cell.get("outputs", []))
            shown = [img for img in images if "/_images/" in img["src"]]
            assert len(shown) == figures > 0, (figures, images)
            page.evaluate("async () => { await window.MathJax.startup.promise; }")  # typesetting done
            typeset = page.locator("mjx-container").count()
            raw = page.locator(".math").count()
            assert typeset >= raw > 0, f"MathJax typeset {typeset} of {raw} formulas"
            assert page.locator("mjx-merror").count() == 0, "MathJax reports an error in a formula"
            assert page.locator(".run-this-notebook").count() == 1
            assert page.locator("a.left-prev").count() == 1 and page.locator("a.right-next").count() == 1
            page.locator("mjx-container").first.scroll_into_view_if_needed()
        else:
            for name_ in ("clip_by_global_norm", "train"):
                entry = page.locator(f"[id='gradclip_helpers.{name_}']")
                assert entry.count() == 1 and entry.is_visible(), f"the API page does not list {name_}"
                assert name_ in entry.inner_text()
            page.locator("[id='gradclip_helpers.clip_by_global_norm']").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        assert not problems, "\n".join(problems)
    finally:
        page.close()


def test_search_finds_a_notebook(book, site_url, browser):
    page, problems = _open(browser, f"{site_url}/search.html?q=AutoClip")
    try:
        page.wait_for_selector("#search-results li a", timeout=30_000)
        results = page.locator("#search-results li a").all_inner_texts()
        assert any("Adaptive" in text or "adaptive" in text for text in results), results
        assert not problems, "\n".join(problems)
    finally:
        page.close()
