"""Publication: a round's charts, static pages, release workbook and report, built from the warehouse's marts.

Pure core (no Dagster): `publish(conn, round_, out, exports)` reads the marts once (data.py), renders the charts
(charts.py, Altair + vl-convert), writes the release workbook (release_workbook.py, openpyxl), the pages (pages.py,
Jinja2 templates shipped in templates/) and the report (report.py, HTML printed to PDF by headless Chromium)
into `<data>/publication/<round>/`. The Dagster assets (ilms_dagster/assets/release.py) and `ilms publish`
(ilms_dagster/cli/publish.py) wrap it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ilms_dagster.publication.data import PublicationError, RoundData, load
from ilms_dagster.publication.pages import write_pages
from ilms_dagster.publication.release_workbook import Release, write_release
from ilms_dagster.publication.report import start_printing, write_report_html

if TYPE_CHECKING:  # Altair (~1 s to import) loads when charts are built, not with the definitions
    from ilms_dagster.publication.charts import RenderedChart

__all__ = ["PublicationError", "Published", "RoundData", "build_charts", "load", "publish", "release_path"]


@dataclass
class Published:
    round: int
    out: Path
    charts: list[RenderedChart] = field(default_factory=list)
    release: Release | None = None
    pages: list[Path] = field(default_factory=list)
    report_html: Path | None = None
    report_pdf: Path | None = None

    @property
    def overview(self) -> Path:
        return self.out / "index.html"


def release_path(out: Path, round_: int) -> Path:
    return out / f"ILMS_release_{round_}.xlsx"


def build_charts(data: RoundData, out: Path, step: Callable[[str], None] = lambda _: None) -> list[RenderedChart]:
    from ilms_dagster.publication.charts import chart_specs, render

    rendered = []
    for spec in chart_specs(data):
        step(f"chart {spec.name}")
        rendered.append(render(spec, out / "charts"))
    return rendered


def publish(
    conn: duckdb.DuckDBPyConnection,
    round_: int | str,
    out: Path,
    exports: Path,
    pdf: bool = True,
    step: Callable[[str], None] = lambda _: None,
) -> Published:
    """Build all of round `round_`'s publication into `out`, linking the exports in `exports` (written already)."""
    data = load(conn, round_)
    done = Published(data.round, out)
    done.charts = build_charts(data, out, step)
    step("report")
    done.report_html = write_report_html(data, out, done.charts)
    printing = start_printing(done.report_html, out / "report.pdf") if pdf else None  # Chromium's own process
    step("release workbook")
    done.release = write_release(conn, data.round, release_path(out, data.round))
    step("pages")
    done.pages = write_pages(data, out, done.charts, done.release.path, exports)
    if printing is not None:
        step("report PDF")
        done.report_pdf = printing.result()
    return done
