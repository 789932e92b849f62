"""HTML to PDF with headless Chromium (Playwright's print-to-PDF), for customer reports.

Why Chromium: the PDF is the very HTML page the buyer can open, printed by a real browser
engine (CSS, SVG and fonts as on screen); the tests already need Chromium, and Playwright is a
well-kept PyPI package that drives an installed browser (``executable_path``), downloading
nothing. WeasyPrint would need Pango and friends from the system and renders CSS its own way.

The page is handed over as a string and every network request is refused, so what is printed
is exactly the self-contained report (logo and chart inline): nothing is fetched, ever.
"""

from __future__ import annotations

import shutil

from ..errors import AispendError

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfUnavailable(AispendError):
    pass


def chromium(configured: str | None) -> str:
    """The browser to print with: ``[dashboard] chromium_path``, else the first on PATH."""
    found = configured or next((p for p in map(shutil.which, CANDIDATES) if p), None)
    if not found:
        raise PdfUnavailable("no Chromium to print the PDF with: install it (Debian: apt-get install chromium) "
                             "or set [dashboard] chromium_path")
    return found


def html_to_pdf(html: str, browser_path: str | None = None) -> bytes:
    """Print ``html`` (self-contained) to an A4 PDF. Call it from a worker thread, not an event loop."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ModuleNotFoundError:
        raise PdfUnavailable("PDF export needs the playwright package: pip install playwright") from None
    path = chromium(browser_path)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=path, args=ARGS)
            try:
                page = browser.new_page()
                page.route("**/*", lambda route: route.abort())  # nothing leaves this machine
                page.set_content(html, wait_until="load")
                return page.pdf(format="A4", print_background=True,
                                margin={"top": "14mm", "bottom": "14mm", "left": "12mm", "right": "12mm"})
            finally:
                browser.close()
    except Error as exc:
        raise PdfUnavailable(f"Chromium ({path}) could not print the report: {str(exc).splitlines()[0]}") from None
