"""`ilms publish --round R`: the round's ILOSTAT exports, charts, release workbook, pages and report, from the
read copy of the warehouse, with progress; `ilms run` calls `publish_round` after the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


def publish_round(round_: str, out: Path | None = None, pdf: bool = True, show: Console = console):
    """Export and publish `round_` from the warehouse's read copy into `out` (default <data>/publication/<round>)."""
    from ilms_dagster.ilostat.export import export_round
    from ilms_dagster.publication import load, publish
    from ilms_dagster.publication.charts import chart_specs
    from ilms_dagster.resources import default_storage
    from ilms_dagster.resources.warehouse import connect_read_only, warehouse_path

    if not warehouse_path().exists():
        raise typer.BadParameter(f"no warehouse at {warehouse_path()}: run `ilms run` first")
    storage = default_storage()
    out = out or storage.publication / round_
    exports = storage.exports / round_
    with connect_read_only() as conn:
        total = len(chart_specs(load(conn, round_))) + 4 + pdf
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=show
        ) as progress:
            task = progress.add_task(f"Round {round_}: ILOSTAT exports", total=total)
            export_round(conn, round_, exports)

            def step(what: str) -> None:
                progress.update(task, advance=1, description=f"Round {round_}: {what}")

            done = publish(conn, round_, out, exports, pdf=pdf, step=step)
            progress.update(task, completed=total, description=f"Round {round_}: published")
    return done


def publish(
    round_: Annotated[str, typer.Option("--round", help="Collection round (year)")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default <data>/publication/<round>)")] = None,
    pdf: Annotated[bool, typer.Option(help="Print the report to PDF with headless Chromium")] = True,
) -> None:
    """Build a round's publication: charts (SVG, PNG, CSV), release workbook, overview, country profiles,
    coordinator and download pages, and the report (HTML, PDF)."""
    from ilms_dagster.publication import PublicationError

    try:
        done = publish_round(round_, out, pdf)
    except PublicationError as exc:
        console.print(f"[red]Not published:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(
        f"{len(done.charts)} charts, {len(done.pages)} pages, release workbook {done.release.path}, report "
        f"{done.report_pdf or done.report_html}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"Overview: {done.overview}  (open it: xdg-open {done.overview})", highlight=False, soft_wrap=True)
