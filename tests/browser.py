"""The built book as its readers see it: every page opened in headless Chromium, and the citations.

``check_pages(html_dir)`` serves a built ``_build/html`` folder on 127.0.0.1 (http.server in a thread), opens
every page in headless Chromium (Selenium, Debian's ``chromium`` + ``chromium-driver``), waits for MathJax
to finish, and returns one ``PageReport`` per page: images that did not load, formulas left untypeset, raw
TeX left in the text, MathJax errors, the browser console's errors, tracebacks and machine paths. It can
save a full-page screenshot of each page. ``check_citations(html_dir)`` reads the HTML files: every
citation must link to a bibliography entry and read as that entry's label, and no work may be named in
plain text. Neither function asserts anything: the tests decide what is a failure.

Chromium is started with no network services (the machines that run this have no internet) and a fresh
profile. ``find_chromium()`` raises ``BrowserNotFound`` with the reason when there is no browser to run.
"""

import base64
import functools
import http.server
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Folders of a machine that must never appear on a page (plus the repository's and the book's own paths).
MACHINE_PATHS = ("/work/", "/root/", "/home/", "/tmp/")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900")
BROWSERS = ("chromium", "google-chrome", "google-chrome-stable", "chromium-browser")
MAX_SCREENSHOT_HEIGHT = 16000  # px; the top of a longer page only (the notebook pages are about 8,000)
# TeX that MathJax should have replaced: \( \[ $$ and any \command, in text outside code.
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\\[A-Za-z]+")
TRACEBACK = "Traceback (most recent call last)"

# Runs in the page once it has loaded: wait for MathJax's first typeset and the fonts it asks for.
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const loaded = !!(window.MathJax && MathJax.startup && MathJax.startup.promise);
const typeset = loaded ? MathJax.startup.promise : Promise.resolve();
typeset.then(() => { void document.body.offsetHeight; return document.fonts.ready; })
       .then(() => done(loaded), (err) => done('MathJax failed: ' + err));
"""
# Runs in the page after WAIT_FOR_MATHJAX: what a reader would see.
INSPECT = """
const textOutside = (selector) => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll(selector).forEach((e) => e.remove());
  return copy.textContent;
};
const math = Array.from(document.querySelectorAll('span.math, div.math'));
return {
  images: document.images.length,
  broken_images: Array.from(document.images).filter((i) => !(i.complete && i.naturalWidth > 0))
                      .map((i) => i.getAttribute('src')),
  math: math.length,
  typeset: math.filter((e) => e.querySelector('mjx-container')).length,
  containers: document.querySelectorAll('mjx-container').length,
  math_errors: Array.from(document.querySelectorAll('mjx-merror'))
                    .map((e) => e.getAttribute('data-mjx-error') || e.textContent),
  prose: textOutside('pre, code, script, style, textarea, mjx-container, .highlight'),
  text: textOutside('script, style'),
  traceback_blocks: document.querySelectorAll('.traceback, .output.error').length,
  links: Array.from(document.querySelectorAll('[href], [src]'))
              .map((e) => e.getAttribute('href') || e.getAttribute('src')),
  layout: layout(),
};
"""
# Runs in the page (part of INSPECT): the text column, what sticks out of it, and the figures' captions. An element
# counts by the box a reader sees: its nearest ancestor inside the column that scrolls (overflow auto or scroll)
# where there is one, else itself.
LAYOUT = """
function layout() {
  const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const edge = column.getBoundingClientRect();
  const shown = (e) => {
    for (let a = e.parentElement; a && a !== column; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll') return a;
    }
    return e;
  };
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.getAttribute('src') ? ' ' + e.getAttribute('src') : '');
  const wide = [];
  for (const e of column.querySelectorAll('img, figure, table')) {
    const box = shown(e).getBoundingClientRect();
    if (box.width > 0 && (box.right > edge.right + 1 || box.left < edge.left - 1))
      wide.push(`${name(e)}: ${Math.round(box.left - edge.left)} to ${Math.round(box.right - edge.left)} px of a `
                + `${Math.round(edge.width)} px column`);
  }
  const images = Array.from(column.querySelectorAll('img'));
  return {
    column_width: Math.round(edge.width),
    too_wide: wide,
    uncaptioned: images.filter((i) => !(i.closest('figure') && i.closest('figure').querySelector(
                                  'figcaption .caption-number'))).map((i) => i.getAttribute('src')),
    captions: Array.from(column.querySelectorAll('figcaption .caption-number')).map((c) => c.textContent.trim()),
    first_image_top: images.length ? Math.round(Math.min(...images.map((i) => i.getBoundingClientRect().top
                                                                             + window.scrollY))) : null,
  };
}
"""
INSPECT = LAYOUT + INSPECT


class BrowserNotFound(RuntimeError):
    """No Chromium and matching chromedriver on this machine (the message says what was looked for)."""


@dataclass
class PageReport:
    """One page as the browser showed it. ``page`` is relative to the html folder, e.g. executed/figure1.html."""

    page: str
    images: int  # <img> elements on the page
    broken_images: list[str]  # src of each image that did not load (naturalWidth 0)
    math: int  # formulas Sphinx wrote (span.math, div.math)
    typeset: int  # of them, the ones MathJax replaced by a container
    containers: int  # MathJax containers on the page
    mathjax_loaded: bool  # MathJax's script ran (only required where the page has formulas)
    raw_tex: list[str]  # text around TeX left outside code: \(, \[, $$, \command
    math_errors: list[str]  # MathJax's error messages (undefined macros, bad TeX)
    console_errors: list[str]  # the browser console's SEVERE entries (JavaScript errors, failed loads)
    tracebacks: list[str]  # text around each Python traceback, and error output blocks
    machine_paths: list[str]  # text or link around each machine path
    column_width: int = 0  # px, the text column (article.bd-article) at the window's width
    too_wide: list[str] = field(default_factory=list)  # images, figures, tables sticking out of the column
    uncaptioned: list[str] = field(default_factory=list)  # src of each image not in a figure with a numbered caption
    captions: list[str] = field(default_factory=list)  # the figures' numbers as shown ("Fig. 3")
    first_image_top: int | None = None  # px from the top of the page to its first image (None: no image)
    screenshot: Path | None = field(default=None)

    def problems(self, machine_paths: bool = True) -> list[str]:
        """Every problem found, one line each (empty when the page is as it should be)."""
        found = [f"image did not load: {src}" for src in self.broken_images]
        if self.math and not self.mathjax_loaded:
            found.append("MathJax did not load")
        if self.typeset != self.math:
            found.append(f"{self.math - self.typeset} of {self.math} formulas not typeset")
        found += [f"raw TeX: {s!r}" for s in self.raw_tex]
        found += [f"MathJax error: {s}" for s in self.math_errors]
        found += [f"console: {s}" for s in self.console_errors]
        found += [f"traceback: {s!r}" for s in self.tracebacks]
        if machine_paths:
            found += [f"machine path: {s!r}" for s in self.machine_paths]
        return found


def _executable(variable: str, names: Sequence[str]) -> str | None:
    if os.environ.get(variable):
        found = shutil.which(os.environ[variable])
        if found is None:
            raise ValueError(f"${variable} is {os.environ[variable]!r}, which is no executable")
        return found
    return next(filter(None, map(shutil.which, names)), None)


def find_chromium() -> tuple[str, str]:
    """Return (browser, chromedriver) executables; raise BrowserNotFound saying what is missing.

    $LRC_CHROMIUM and $LRC_CHROMEDRIVER name them where set (a name on PATH or a path: GitHub's runners
    use their Google Chrome and its ChromeDriver); else the first of BROWSERS on PATH, and chromedriver.
    """
    browser = _executable("LRC_CHROMIUM", BROWSERS)
    driver = _executable("LRC_CHROMEDRIVER", ("chromedriver",))
    missing = [what for what, path in ((f"browser ({', '.join(BROWSERS)})", browser), ("chromedriver", driver))
               if path is None]
    if missing:
        raise BrowserNotFound(f"no {' and no '.join(missing)} on PATH: install Debian's chromium and "
                              "chromium-driver (.ci/run does, as root, with apt-get)")
    return browser, driver


REDIRECT = re.compile(r"^\s*<meta http-equiv=\"refresh\"[^>]*>\s*$", re.IGNORECASE)


def book_pages(html_dir: Path) -> list[str]:
    """Every HTML page of a built book, relative to it.

    Leaves out the theme's and Sphinx's folders (_static, _sources, ...) and pages that only redirect
    (Jupyter Book's index.html: a lone <meta http-equiv="Refresh">; the page it leads to is in the list).
    """
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        raise ValueError(f"{html_dir} is not a built book: it has no index.html (expected _build/html)")
    return sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(html_dir).parts[:-1])
                  and not REDIRECT.match(p.read_text()))


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve a folder on 127.0.0.1 (a free port) from a thread; yield its base URL ending in '/'."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def chromium(browser: str | None = None, driver: str | None = None):
    """Headless Chromium under Selenium, with a fresh profile that is deleted afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if browser is None or driver is None:
        browser, driver = find_chromium()
    with tempfile.TemporaryDirectory(prefix="lrc-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        try:
            session.set_page_load_timeout(120)
            session.set_script_timeout(120)
            yield session
        finally:
            session.quit()


def _around(text: str, start: int, end: int, width: int = 40) -> str:
    return " ".join(text[max(0, start - width):end + width].split())


def save_screenshot(session, path: Path) -> Path:
    """Save the whole page (not only the window) as a PNG, up to MAX_SCREENSHOT_HEIGHT pixels tall."""
    size = session.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], MAX_SCREENSHOT_HEIGHT),
            "scale": 1}
    shot = session.execute_cdp_cmd("Page.captureScreenshot",
                                   {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def check_page(session, url: str, page: str, forbidden_paths: Sequence[str] = MACHINE_PATHS,
               screenshot: Path | None = None) -> PageReport:
    """Open one URL in a running session and report what a reader sees (see PageReport)."""
    session.get_log("browser")  # drop what earlier pages left in the console log
    session.get(url)
    loaded = session.execute_async_script(WAIT_FOR_MATHJAX)
    seen = session.execute_script(INSPECT)
    # The favicon is the browser's own request (the book declares none), not something the page asked for.
    # Each message once (Chromium logs a failed image load twice).
    console = list(dict.fromkeys(entry["message"] for entry in session.get_log("browser")
                                 if entry["level"] == "SEVERE" and "/favicon.ico - " not in entry["message"]))
    if isinstance(loaded, str):  # MathJax's startup promise was rejected
        console.append(loaded)
    prose, text = seen["prose"], seen["text"]
    tracebacks = [_around(text, m.start(), m.end()) for m in re.finditer(re.escape(TRACEBACK), text)]
    tracebacks += [f"{seen['traceback_blocks']} error output block(s)"] if seen["traceback_blocks"] else []
    paths = []
    for needle in dict.fromkeys(forbidden_paths):
        paths += [_around(text, m.start(), m.end()) for m in re.finditer(re.escape(needle), text)]
        paths += [link for link in seen["links"] if needle in link]
    return PageReport(
        page=page, images=seen["images"], broken_images=seen["broken_images"], math=seen["math"],
        typeset=seen["typeset"], containers=seen["containers"], mathjax_loaded=loaded is True,
        raw_tex=[_around(prose, m.start(), m.end()) for m in RAW_TEX.finditer(prose)],
        math_errors=seen["math_errors"], console_errors=console, tracebacks=tracebacks,
        machine_paths=paths, column_width=seen["layout"]["column_width"], too_wide=seen["layout"]["too_wide"],
        uncaptioned=seen["layout"]["uncaptioned"], captions=seen["layout"]["captions"],
        first_image_top=seen["layout"]["first_image_top"],
        screenshot=save_screenshot(session, screenshot) if screenshot else None)


def check_pages(html_dir: Path, screenshots_dir: Path | None = None,
                forbidden_paths: Sequence[str] | None = None) -> list[PageReport]:
    """Open every page of a built book (``_build/html``) in headless Chromium; one PageReport per page.

    Screenshots go to ``screenshots_dir/<page path with '/' as '-'>.png`` when a folder is given. The
    forbidden paths default to MACHINE_PATHS, the repository's path, the home folder and the html folder.
    Raises BrowserNotFound (before serving anything) when there is no Chromium and chromedriver.
    """
    html_dir = Path(html_dir).resolve()
    pages = book_pages(html_dir)
    browser, driver = find_chromium()
    if forbidden_paths is None:
        forbidden_paths = (*MACHINE_PATHS, str(REPO_ROOT), str(Path.home()), str(html_dir))
    reports = []
    with serve(html_dir) as base, chromium(browser, driver) as session:
        for page in pages:
            shot = Path(screenshots_dir) / (page.removesuffix(".html").replace("/", "-") + ".png") \
                if screenshots_dir else None
            reports.append(check_page(session, base + page, page, forbidden_paths, shot))
    return reports


def check_citations(html_dir: Path) -> dict[str, list[str]]:
    """Citation problems per page of a built book (pages without any are left out).

    Reads the bibliography's labels ("[Alemi et al., 2017]") from the page holding ``div.citation``
    entries, then on every page: each link into the bibliography must lead to an entry and read as its
    label ({cite:p}: "Alemi et al., 2017") or as its year after the label's authors ({cite:t}: "Alemi et
    al. [2017]"); no text outside citations and code may name a work ("et al." or the authors of a label);
    and every entry must be cited from some page.
    """
    from bs4 import BeautifulSoup

    html_dir = Path(html_dir)
    soups = {page: BeautifulSoup((html_dir / page).read_text(), "html.parser") for page in book_pages(html_dir)}
    labels = {}  # (page, id) -> label
    for page, soup in soups.items():
        for entry in soup.select("div.citation"):
            labels[(page, entry["id"])] = " ".join(entry.select_one(".label").get_text().split()).strip("[]")
    if not labels:
        raise ValueError(f"{html_dir} has no bibliography (no div.citation on any page)")
    # names of works: "et al." and the authors of each label that has none ("Kolchinsky and Tracey")
    needles = ("et al", *sorted({label.rsplit(", ", 1)[0] for label in labels.values()} - {""}))
    needles = tuple(n for n in needles if n == "et al" or "et al" not in n)
    cited, problems = set(), {}
    for page, soup in soups.items():
        found = []
        for citation in soup.select("span.bibtex-citation"):
            text = " ".join(citation.get_text().split())
            for link in citation.select("a[href]"):
                name, _, anchor = link["href"].partition("#")
                target = (posixpath.normpath(posixpath.join(posixpath.dirname(page), name)) if name else page, anchor)
                label = labels.get(target)
                if label is None:
                    found.append(f"citation {text!r} links to {link['href']}, which is no bibliography entry")
                    continue
                cited.add(target)
                shown = " ".join(link.get_text().split())
                author, year = label.rsplit(", ", 1)
                if shown != label and not (shown == year and text.startswith(f"{author} [")):
                    found.append(f"citation {text!r} reads {shown!r} but its entry is labelled [{label}]")
        body = soup.select_one("main") or soup.body
        if body is None:  # index.html only redirects to the first page
            continue
        for element in body.select("span.bibtex-citation, div.citation, pre, code, script, style"):
            element.decompose()
        prose = " ".join(body.get_text(" ").split())
        for needle in needles:
            found += [f"plain-text citation: {_around(prose, m.start(), m.end())!r}"
                      for m in re.finditer(re.escape(needle), prose)]
        if found:
            problems[page] = found
    uncited = sorted(label for target, label in labels.items() if target not in cited)
    if uncited:
        problems.setdefault(next(page for page, _ in labels), []).extend(f"never cited: [{u}]" for u in uncited)
    return problems


def chromium_version(browser: str) -> str:
    """The browser's version line, e.g. 'Chromium 156.0.8078.79 built on Debian GNU/Linux 12'."""
    return subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
