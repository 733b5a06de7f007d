"""The book as its readers see it: the paper book, built from the committed results, opened page by page in
headless Chromium (tests/browser.py), with a screenshot of each page in _build/screenshots/. Slow (a minute
or two). Skipped only where no Chromium and chromedriver are found (.ci/run installs Debian's chromium and
chromium-driver)."""

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from lrc_utils.book.paths import REPO_ROOT
from tests.browser import (
    BrowserNotFound,
    check_citations,
    check_page,
    check_pages,
    chromium,
    chromium_version,
    find_chromium,
)

pytestmark = pytest.mark.slow
SCREENSHOTS = REPO_ROOT / "_build" / "screenshots"


def listing(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(found) for page, found in problems.items())


@pytest.fixture(scope="module")
def browser() -> tuple[str, str]:
    try:
        return find_chromium()
    except BrowserNotFound as err:
        pytest.skip(f"no browser to open the book in: {err}")


@pytest.fixture(scope="module")
def book_html(paper_book) -> Path:
    """The paper book of tests/conftest.py: the notebooks from the committed results, built with -W."""
    return paper_book / "_build" / "html"


@pytest.fixture(scope="module")
def reports(browser, book_html):
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    start = time.perf_counter()
    found = {report.page: report for report in check_pages(book_html, SCREENSHOTS)}
    print(f"\n[browser] {len(found)} pages opened in {time.perf_counter() - start:.1f} s with "
          f"{chromium_version(browser[0])}; screenshots in {SCREENSHOTS}")
    return found


def test_every_page_of_the_toc_was_opened_and_photographed(reports):
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    missing = [f for f in files if f"{f}.html" not in reports]
    assert not missing, f"pages of _toc.yml not opened: {missing}"
    for report in reports.values():
        assert report.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{report.page}: no PNG screenshot"


def test_every_image_loaded(reports, book_html):
    problems = {}
    for page, report in reports.items():
        in_html = len(re.findall(r"<img\b", (book_html / page).read_text()))
        found = [f"image did not load: {src}" for src in report.broken_images]
        if report.images != in_html:
            found.append(f"the browser saw {report.images} images, the HTML file has {in_html}")
        if found:
            problems[page] = found
    assert not problems, listing(problems)
    figures = {page: r.images for page, r in reports.items() if page.startswith("executed/")}
    assert all(figures.values()), f"a figure page shows no image: {figures}"


def test_every_formula_typeset(reports, book_html):
    problems = {}
    for page, report in reports.items():
        in_html = len(re.findall(r'class="math notranslate', (book_html / page).read_text()))
        found = [p for p in report.problems(machine_paths=False) if p.startswith(("MathJax", "raw TeX"))
                 or "formulas not typeset" in p]
        if report.math != in_html:
            found.append(f"the browser saw {report.math} formulas, the HTML file has {in_html}")
        if report.containers < report.typeset:
            found.append(f"{report.containers} MathJax containers for {report.typeset} typeset formulas")
        if found:
            problems[page] = found
    assert not problems, listing(problems)
    assert reports["book/intro.html"].math > 0 and reports["executed/mi_estimators.html"].math > 0


def test_no_table_or_figure_is_wider_than_the_text_column(reports):
    """At 1280 px, every image, figure and table fits the text column, or scrolls inside a box that does."""
    problems = {page: r.too_wide for page, r in reports.items() if r.too_wide}
    assert not problems, listing(problems)
    assert all(r.column_width > 300 for r in reports.values()), {p: r.column_width for p, r in reports.items()}


def test_every_figure_has_a_numbered_caption(reports):
    """Every image of every page sits in a figure with a numbered caption ("Fig. 2 ..."), numbers unique per page."""
    problems = {page: [f"image without a numbered caption: {src}" for src in r.uncaptioned]
                for page, r in reports.items() if r.uncaptioned}
    problems |= {page: [f"figure numbers repeat: {r.captions}"] for page, r in reports.items()
                 if len(set(r.captions)) != len(r.captions)}
    assert not problems, listing(problems)
    figures = {page: len(r.captions) for page, r in reports.items() if page.startswith("executed/")}
    assert all(figures.values()), f"a chapter shows no numbered figure: {figures}"


def test_the_introduction_shows_a_figure_in_its_first_1000_px(reports):
    top = reports["book/intro.html"].first_image_top
    assert top is not None and top < 1000, f"the introduction's first image starts at {top} px"


def test_no_javascript_error_in_the_console(reports):
    problems = {page: r.console_errors for page, r in reports.items() if r.console_errors}
    assert not problems, listing(problems)


def test_no_traceback_on_any_page(reports):
    problems = {page: r.tracebacks for page, r in reports.items() if r.tracebacks}
    assert not problems, listing(problems)


def test_no_machine_path_on_the_book_pages(reports):
    problems = {page: r.machine_paths for page, r in reports.items()
                if r.machine_paths and not page.startswith("executed/")}
    assert not problems, listing(problems)


def test_no_machine_path_on_the_notebook_pages(reports):
    problems = {page: r.machine_paths for page, r in reports.items()
                if r.machine_paths and page.startswith("executed/")}
    assert not problems, listing(problems)


def test_a_downloaded_copy_typesets_its_formulas(browser, book_html, tmp_path):
    """Opened from the disk (file://, no server) after a move: MathJax and its fonts come with the book."""
    copy = shutil.copytree(book_html, tmp_path / "downloaded")
    with chromium(*browser) as session:
        report = check_page(session, (copy / "book" / "intro.html").as_uri(), "book/intro.html", ())
    assert report.math > 0 and report.typeset == report.math and report.mathjax_loaded, report.problems()
    assert not report.console_errors and not report.math_errors and not report.raw_tex, report.problems()


def test_book_pages_cite_every_work_by_the_label_of_its_entry(book_html):
    problems = {page: found for page, found in check_citations(book_html).items() if not page.startswith("executed/")}
    assert not problems, listing(problems)


def test_notebook_pages_cite_every_work_by_the_label_of_its_entry(book_html):
    problems = {page: found for page, found in check_citations(book_html).items() if page.startswith("executed/")}
    assert not problems, listing(problems)


def test_the_page_checks_catch_each_kind_of_problem(browser, tmp_path):
    """A hand-made page with one problem of each kind, and the counts written into it."""
    (tmp_path / "dot.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>')
    (tmp_path / "index.html").write_text(
        "<html><body><main><p>Two images:</p><img src='dot.svg'><img src='missing.png'>"
        "<table style='width:3000px'><tr><td>a table wider than the page</td></tr></table>"
        "<figure><img src='dot.svg'><figcaption><span class='caption-number'>Fig. 1 </span>x</figcaption></figure>"
        "<p>A formula that nothing typesets: <span class='math notranslate nohighlight'>\\(\\beta\\)</span></p>"
        "<pre>results in /work/lrc/results</pre><pre>Traceback (most recent call last):</pre>"
        "<script>not_defined_anywhere();</script></main></body></html>")
    report = check_pages(tmp_path, tmp_path / "shots")[0]
    assert (report.page, report.images, report.broken_images) == ("index.html", 3, ["missing.png"])
    assert report.uncaptioned == ["dot.svg", "missing.png"] and report.captions == ["Fig. 1"]
    assert len(report.too_wide) == 1 and report.too_wide[0].startswith("table: ")
    assert report.first_image_top is not None and report.first_image_top > 0
    assert (report.math, report.typeset, report.containers, report.mathjax_loaded) == (1, 0, 0, False)
    assert len(report.raw_tex) == 2 and all(r"\(\beta\)" in s for s in report.raw_tex)  # the \( and the \beta
    assert len(report.console_errors) == 2  # the missing image and the undefined function
    assert any("not_defined_anywhere is not defined" in e for e in report.console_errors)
    assert len(report.tracebacks) == 1 and len(report.machine_paths) == 1
    assert len(report.problems()) == 1 + 2 + 2 + 2 + 1 + 1  # image, MathJax x2, raw TeX x2, console x2, ...
    assert report.screenshot == tmp_path / "shots" / "index.png"


def test_the_citation_check_catches_each_kind_of_problem(tmp_path):
    """A bibliography of three entries and a page citing them wrongly, one problem of each kind."""
    labels = ["Alemi et al., 2017", "Kolchinsky and Tracey, 2017", "Xiao et al., 2017"]
    entries = "".join(f"<div class='citation' id='id{i}'><span class='label'>[{label}]</span><p>...</p></div>"
                      for i, label in enumerate(labels))
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "references.html").write_text(f"<html><body><main>{entries}</main></body></html>")
    (tmp_path / "index.html").write_text(
        "<html><body><main>"
        "<span class='bibtex-citation'>[<a href='book/references.html#id0'>Alemi et al., 2017</a>]</span> right, "
        "<span class='bibtex-citation'>Kolchinsky and Tracey [<a href='book/references.html#id1'>2017</a>]</span> "
        "right, <span class='bibtex-citation'>[<a href='book/references.html#id0'>AFDM17</a>]</span> wrong label, "
        "<span class='bibtex-citation'>[<a href='book/references.html#id9'>Nobody, 2020</a>]</span> no entry, "
        "and Kolchinsky and Tracey in plain text.</main></body></html>")
    problems = check_citations(tmp_path)
    assert sorted(problems) == ["book/references.html", "index.html"]
    assert problems["book/references.html"] == ["never cited: [Xiao et al., 2017]"]
    found = problems["index.html"]
    assert len(found) == 3, found
    assert "reads 'AFDM17' but its entry is labelled [Alemi et al., 2017]" in found[0]
    assert "#id9, which is no bibliography entry" in found[1]
    assert found[2].startswith("plain-text citation: ") and "Kolchinsky and Tracey in plain text" in found[2]
