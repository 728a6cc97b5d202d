"""`ilms`: the command line for focal-point templates, sample data and running the pipeline."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

from ilms_dagster.orchestration import environment  # before Dagster is imported

environment.apply()

import typer

from ilms_dagster.cli.options import collection_round, console, country_code
from ilms_dagster.registry import ROUNDS, TABLES, reference_years

app = typer.Typer(
    help="ilms-dagster: ILMQ templates, sample submissions and the ingestion pipeline.", no_args_is_help=True
)


@app.command()
def template(
    country: Annotated[str, typer.Option(help="ISO3 code of the reporting country", callback=country_code)],
    round_: Annotated[str, typer.Option("--round", help="Collection round (year)", callback=collection_round)],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output .xlsx (default <data>/templates/<country>_ILMQ_<round>.xlsx, "
            "with --prefill <country>_ILMQ_<round>_prefilled.xlsx)"
        ),
    ] = None,
    prefill: Annotated[bool, typer.Option(help="Prefill with the values the warehouse already holds")] = False,
    force: Annotated[bool, typer.Option(help="Replace the output file if it exists")] = False,
) -> None:
    """Write the ILMQ workbook template for a country and round (into <data>/templates/ unless --out says where);
    an existing file is kept unless --force is given."""
    from ilms_dagster.questionnaire.template import write_workbook
    from ilms_dagster.resources.locations import data_dir
    from ilms_dagster.resources.warehouse import connect_read_only, latest_values, warehouse_path

    country = country.upper()
    path = out or template_path(data_dir(), country, round_, prefill)
    if path.exists() and not force:
        console.print(
            f"[red]{path} exists: not overwritten.[/] Give --force to replace it, or --out another file.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    values = {}
    if prefill:
        if not warehouse_path().exists():
            raise typer.BadParameter(f"--prefill: no warehouse at {warehouse_path()}")
        with connect_read_only() as conn:
            values = latest_values(conn, country, reference_years(round_))
    path = write_workbook(path, country, round_, values=values)
    console.print(
        f"Wrote {path} ({len(TABLES)} tables, years {reference_years(round_)}, {len(values)} prefilled values)",
        highlight=False,
        soft_wrap=True,
    )


def template_path(data: Path, country: str, round_: str, prefill: bool = False) -> Path:
    """Where `ilms template` writes by default: `<data>/templates/<ISO3>_ILMQ_<round>.xlsx`; a prefilled one is
    `..._prefilled.xlsx`, so it never takes the place of the blank template."""
    return data / "templates" / f"{country}_ILMQ_{round_}{'_prefilled' if prefill else ''}.xlsx"


@app.command()
def samples(
    out: Annotated[Path | None, typer.Option(help="Folder (default <data>/samples)")] = None,
    round_: Annotated[list[str] | None, typer.Option("--round", help="Rounds (default all)")] = None,
) -> None:
    """Write the deterministic sample submissions (ten ASEAN countries)."""
    from ilms_dagster.questionnaire.samples import ensure_samples
    from ilms_dagster.resources import default_storage

    paths = ensure_samples(out or default_storage().samples, rounds=round_ or ROUNDS)
    console.print(f"{len(paths)} sample submissions in {out or default_storage().samples}")


@app.command()
def dictionary(
    out: Annotated[Path | None, typer.Option(help="Output file (default docs/data_dictionary.md)")] = None,
) -> None:
    """Regenerate the data dictionary of the SQL models (docs/data_dictionary.md) from their headers."""
    from ilms_dagster.models.build import DICTIONARY_PATH, write_dictionary

    path = write_dictionary(out or DICTIONARY_PATH)
    console.print(f"Wrote {path}")


@app.command("import-ilostat")
def import_ilostat(
    files: Annotated[
        list[Path], typer.Argument(help="ILOSTAT bulk CSV files (plain or .gz)", exists=True, dir_okay=False)
    ],
    published: Annotated[str | None, typer.Option(help="Date ILOSTAT published the files (YYYY-MM-DD)")] = None,
) -> None:
    """Import published ILOSTAT bulk CSV files as the oldest vintage (round 0) of the ILMQ tables, in one
    transaction; print what was loaded, and what was not, by code. `ilms run` (or the models) then shows them."""
    from datetime import date

    from ilms_dagster.ilostat.imports import IlostatError, read_files, report_lines, write_files
    from ilms_dagster.resources.warehouse import default_warehouse

    try:
        when = date.fromisoformat(published) if published else None
    except ValueError:
        raise typer.BadParameter(f"--published {published!r}: write YYYY-MM-DD") from None
    try:
        parsed = read_files(files)  # every file read before the warehouse is opened
    except IlostatError as exc:
        console.print(f"[red]Nothing imported:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    with default_warehouse().get_connection() as conn:
        write_files(conn, parsed, when)
    for line in report_lines(parsed):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"{sum(f.rows_loaded for f in parsed)} published values from {len(parsed)} file(s) in the warehouse;"
        " rebuild the models (`ilms run`, or the staging and marts groups) to see them in staging.latest.",
        soft_wrap=True,
    )


@app.command("export-ilostat")
def export_ilostat(
    round_: Annotated[str, typer.Option("--round", help="Collection round (year): the latest vintage up to it")],
    out: Annotated[Path, typer.Option(help="Output folder (ilostat/<indicator>.csv, sdmx/DF_<indicator>.csv)")],
) -> None:
    """Export a round as ILOSTAT bulk CSV and SDMX-CSV 2.0 (re-read with pysdmx), one file per indicator."""
    from ilms_dagster.ilostat.export import ExportError, export_round
    from ilms_dagster.resources.warehouse import connect_read_only, warehouse_path

    if not warehouse_path().exists():
        raise typer.BadParameter(f"no warehouse at {warehouse_path()}: run `ilms run` first")
    try:
        with connect_read_only() as conn:  # duckdb's own connection: closed on error too
            done = export_round(conn, round_, out)
    except ExportError as exc:
        console.print(f"[red]Not exported:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    for line in done.lines():
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
def dev(
    host: Annotated[
        str,
        typer.Option(
            help="Address the UI listens on (its front door requires the printed token; "
            "keep 127.0.0.1 unless others must reach it, see docs/security.md)"
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the UI")] = 3000,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A further Host name the UI answers to (beside 127.0.0.1, localhost, ::1 and --host); repeatable"
        ),
    ] = None,
) -> None:
    """Start the Dagster UI and daemon (`dagster dev`) on the project's instance (DAGSTER_HOME, seeded with the
    shipped dagster.yaml), on loopback, behind a front door that requires a per-start token (printed in the URL);
    SIGTERM or Ctrl-C stops it with every process it started (webserver, daemon, code server, runs), and so does a
    watchdog if `ilms dev` is killed."""

    from ilms_dagster.orchestration.dev_process import run_process_group
    from ilms_dagster.orchestration.front_door import DEV_SUPERSEDED, HOSTS_ENV, TOKEN_ENV, new_token
    from ilms_dagster.orchestration.instance import ensure_dagster_home

    home = ensure_dagster_home()
    token = new_token()
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Dagster UI: http://{shown}:{port}/?token={token}", highlight=False, soft_wrap=True)
    console.print(
        f"instance: DAGSTER_HOME={home} (its dagster.yaml); the UI requires the token above (a new one at "
        "every start; docs/security.md)",
        highlight=False,
        soft_wrap=True,
    )
    env = os.environ | {TOKEN_ENV: token, HOSTS_ENV: ",".join([host, *(allow_host or [])])}  # never on a command line
    # Run from DAGSTER_HOME: in the project folder `dagster dev` would warn that the dagster.yaml there "will not be
    # used" (true: it reads DAGSTER_HOME's copy). Dagster 1.13 also calls `dagster dev` superseded by `dg dev`
    # (package dagster-dg-cli, not a dependency: same webserver and daemon); that notice is filtered.
    raise typer.Exit(
        run_process_group(
            [
                sys.executable,
                "-W",
                f"ignore:{DEV_SUPERSEDED}",
                "-m",
                "ilms_dagster.orchestration.front_door",
                "dev",
                "-m",
                "ilms_dagster.definitions",
                "-h",
                host,
                "-p",
                str(port),
            ],
            cwd=home,
            env=env,
        )
    )


from ilms_dagster.cli.deploy import app as _deploy_app
from ilms_dagster.cli.publish import publish as _publish
from ilms_dagster.cli.query import export, sql
from ilms_dagster.cli.review import app as _review_app
from ilms_dagster.cli.run import run, summary
from ilms_dagster.cli.survey import app as _microdata_app

app.command("publish")(_publish)
app.command()(run)
app.command()(summary)

app.command()(sql)
app.command()(export)
app.add_typer(_microdata_app, name="microdata")
app.add_typer(_review_app, name="review")
app.add_typer(_deploy_app, name="deploy")
