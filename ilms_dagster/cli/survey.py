"""`ilms microdata`: from a labour force survey file to a filled ILMQ questionnaire (ilms_dagster/microdata)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Labour force survey microdata -> the ILMQ stock tables (weighted tabulation).", no_args_is_help=True
)
console = Console(soft_wrap=True)  # error lines name file, variable and code: never cut them


@app.command("check")
def check_command(
    mapping: Annotated[Path, typer.Argument(help="The survey's mapping file (microdata/<ISO3>_<SURVEY>.yaml)")],
    files: Annotated[list[Path], typer.Argument(help="Survey file(s): .csv, .parquet, .dta, .sav")],
) -> None:
    """Validate a mapping against survey files: variables present, every code mapped (else the codes, counts)."""
    from ilms_dagster.microdata import MicrodataError, check, load_mapping
    from ilms_dagster.microdata.tabulate import tabulatable

    failed = False
    try:
        spec = load_mapping(mapping)
    except MicrodataError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    tables, skipped = tabulatable(spec)
    for file in files:
        started = time.monotonic()
        try:
            _, cube = check(spec, file)
        except MicrodataError as exc:
            console.print(f"[red]{exc}[/]", highlight=False)
            failed = True
            continue
        console.print(
            f"{file}: ok, {int(cube['n'].sum()):,} persons aged 15+ representing "
            f"{int(cube['wm'].sum()) / 1e6:,.1f} thousand; every code mapped "
            f"({time.monotonic() - started:.1f}s)"
        )
    console.print(
        f"{len(tables)} stock tables can be tabulated" + "".join(f"\n  not {t}: {why}" for t, why in skipped.items())
    )
    design = f"strata {spec.strata!r}, PSU {spec.psu!r}" if spec.has_design else "no design (design.strata/psu)"
    console.print(f"sampling errors: {design}")
    if failed:
        raise typer.Exit(1)


@app.command("tabulate")
def tabulate_command(
    mapping: Annotated[Path, typer.Argument(help="The survey's mapping file (microdata/<ISO3>_<SURVEY>.yaml)")],
    files: Annotated[list[Path], typer.Argument(help="Survey file(s), one per reference year")],
    round_: Annotated[str, typer.Option("--round", help="Collection round (year) of the questionnaire")],
    out: Annotated[Path | None, typer.Option(help="Output .xlsx (default <ISO3>_ILMQ_<round>.xlsx)")] = None,
    focal_point: Annotated[str | None, typer.Option(help="Metadata: focal point")] = None,
    institution: Annotated[str | None, typer.Option(help="Metadata: institution")] = None,
    email: Annotated[str | None, typer.Option(help="Metadata: e-mail")] = None,
) -> None:
    """Tabulate survey files into a filled ILMQ workbook (+ <name>.cells.csv: sample counts, U/x flags, SEs)."""
    from ilms_dagster.microdata import MicrodataError, load_mapping, summary_lines, tabulate, write_outputs

    try:
        spec = load_mapping(mapping)
        started = time.monotonic()
        tabs = [tabulate(spec, f) for f in files]
        path = out or Path(f"{spec.country}_ILMQ_{round_}.xlsx")
        meta = {k: v for k, v in {"focal_point": focal_point, "institution": institution, "email": email}.items() if v}
        workbook, sidecar, cells = write_outputs(tabs, round_, path, meta)
    except MicrodataError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    for tab in tabs:
        console.print(
            f"{tab.file.name}: year {tab.year}, {tab.persons:,} persons aged 15+"
            + "".join(f"\n  not {t}: {why}" for t, why in tab.skipped.items())
            + "".join(f"\n  note: {n}" for n in tab.notes)
        )
    for line in summary_lines(cells):
        console.print(f"  {line}")
    console.print(
        f"Wrote {workbook} and {sidecar} ({len(cells)} cells, {time.monotonic() - started:.1f}s). "
        f"Submit the workbook as usual (it goes through intake and validation)."
    )
