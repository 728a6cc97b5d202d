"""The round's report: one HTML document (report.html) assembling the regional overview's key figures, the
regional charts with the tables behind them and the completeness and timeliness section, printed to PDF
(report.pdf) by headless Chromium (Debian's package, through Playwright: no browser download), one section a
page or more (A4)."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ilms_dagster.publication.data import PublicationError, RoundData
from ilms_dagster.publication.pages import (
    ENV,
    chart_views,
    completeness_table,
    key_table,
    round_completeness,
    timeliness_table,
    write_style,
)

if TYPE_CHECKING:
    from ilms_dagster.publication.charts import RenderedChart

CHROMIUM_ENV = "ILMS_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def report_sections(data: RoundData, charts: list[RenderedChart]) -> list[str]:
    """The section titles of the report, in order (each starts a page)."""
    return [
        f"ILMS round {data.round}: Measuring labour migration in the reporting countries",
        *[c.title for c in regional(data, charts)],
        "Completeness and timeliness",
    ]


def regional(data: RoundData, charts: list[RenderedChart]) -> list[RenderedChart]:
    return [c for c in charts if c.name.split("_", 1)[0] not in data.names and c.name != "completeness_heatmap"]


def write_report_html(data: RoundData, out: Path, charts: list[RenderedChart]) -> Path:
    write_style(out)
    path = out / "report.html"
    views = chart_views(regional(data, charts))
    path.write_text(
        ENV.get_template("report.html").render(
            round=data.round,
            title=report_sections(data, charts)[0],
            countries=data.countries.to_dict("records"),
            completeness=round_completeness(data),
            key_table=key_table(data, None),
            charts=views,
            completeness_table=completeness_table(data),
            timeliness_table=timeliness_table(data),
        )
    )
    return path


def chromium() -> str:
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        raise PublicationError(
            f"no Chromium to print the report to PDF: install Debian's chromium package "
            f"(apt-get install chromium) or set {CHROMIUM_ENV} to its path"
        )
    return found


def print_pdf(html: Path, pdf: Path) -> Path:
    """Print `html` to `pdf` with headless Chromium (A4, backgrounds); replaced whole."""
    return start_printing(html, pdf).result()


def start_printing(html: Path, pdf: Path) -> Future[Path]:
    """Start printing `html` to `pdf` in a thread of its own (Playwright's sync API refuses a thread with a running
    event loop, a caller's own Playwright say) and return at once: Chromium prints in its own process while the
    caller goes on; `.result()` waits for the PDF's path and re-raises what went wrong."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ilms-print-pdf")
    future = executor.submit(_print, html, pdf)
    executor.shutdown(wait=False)
    return future


def _print(html: Path, pdf: Path) -> Path:
    from playwright.sync_api import sync_playwright

    browser_path = chromium()
    tmp = pdf.with_name(f".{pdf.name}.tmp")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.pdf(path=str(tmp), format="A4", print_background=True, prefer_css_page_size=True)
        finally:
            browser.close()
    tmp.replace(pdf)
    return pdf
