"""`ilms`: the command line for focal-point templates, sample data and running the pipeline."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated

from ilms_dagster import environment  # noqa: E402  (before Dagster is imported)

environment.apply()

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS, TABLES, reference_years  # noqa: E402

app = typer.Typer(help="ilms-dagster: ILMQ templates, sample submissions and the ingestion pipeline.", no_args_is_help=True)
console = Console()


def collection_round(value: str | None) -> str | None:
    """A --round given on the command line: one of the collection's rounds so far (the round partitions)."""
    from ilms_dagster.registry import open_rounds

    rounds = open_rounds()
    if value is not None and value not in rounds:
        raise typer.BadParameter(f"{value!r} is not a collection round: the rounds are {rounds[0]}-{rounds[-1]} "
                                 f"(a year; the current year's round is the latest)", param_hint="--round")  # fmt: skip
    return value


def country_code(value: str | None) -> str | None:
    """A --country given on the command line: an ISO 3166-1 alpha-3 code (any case)."""
    if value is not None and not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise typer.BadParameter(f"{value!r} is not an ISO 3166-1 alpha-3 country code (three letters, e.g. THA)",
                                 param_hint="--country")  # fmt: skip
    return value.strip().upper() if value is not None else None


@app.command()
def template(
    country: Annotated[str, typer.Option(help="ISO3 code of the reporting country", callback=country_code)],
    round_: Annotated[str, typer.Option("--round", help="Collection round (year)", callback=collection_round)],
    out: Annotated[Path | None, typer.Option(help="Output .xlsx (default <data>/templates/<country>_ILMQ_<round>.xlsx, "
                                                  "with --prefill <country>_ILMQ_<round>_prefilled.xlsx)")] = None,
    prefill: Annotated[bool, typer.Option(help="Prefill with the values the warehouse already holds")] = False,
    force: Annotated[bool, typer.Option(help="Replace the output file if it exists")] = False,
) -> None:
    """Write the ILMQ workbook template for a country and round (into <data>/templates/ unless --out says where);
    an existing file is kept unless --force is given."""
    from ilms_dagster.resources.locations import data_dir
    from ilms_dagster.resources.warehouse import connect_read_only, latest_values, warehouse_path
    from ilms_dagster.template import write_workbook

    country = country.upper()
    path = out or template_path(data_dir(), country, round_, prefill)
    if path.exists() and not force:
        console.print(f"[red]{path} exists: not overwritten.[/] Give --force to replace it, or --out another file.",
                      highlight=False, soft_wrap=True)  # fmt: skip
        raise typer.Exit(1)
    values = {}
    if prefill:
        if not warehouse_path().exists():
            raise typer.BadParameter(f"--prefill: no warehouse at {warehouse_path()}")
        with connect_read_only() as conn:
            values = latest_values(conn, country, reference_years(round_))
    path = write_workbook(path, country, round_, values=values)
    console.print(f"Wrote {path} ({len(TABLES)} tables, years {reference_years(round_)}, {len(values)} prefilled values)",
                  highlight=False, soft_wrap=True)  # fmt: skip


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
    from ilms_dagster.resources import default_storage
    from ilms_dagster.samples import ensure_samples

    paths = ensure_samples(out or default_storage().samples, rounds=round_ or ROUNDS)
    console.print(f"{len(paths)} sample submissions in {out or default_storage().samples}")


@app.command()
def run(
    round_: Annotated[str | None, typer.Option("--round", callback=collection_round,
                                               help="Collection round (default: the newest round with a workbook "
                                                    "in the inbox, else the latest sample round)")] = None,
    country: Annotated[list[str] | None, typer.Option(help="Countries (default: the reporting countries and any "
                                                      "other country with a workbook for the round in the inbox)",
                                                      callback=lambda v: [country_code(c) for c in v] if v else v)] = None,
    publish: Annotated[bool, typer.Option(help="Publish the round after the models (as `ilms publish` does)")] = True,
) -> None:
    """Run the main job: ingest one round for every country into the warehouse, print a summary, then publish
    the round."""
    from ilms_dagster.definitions import build_defs
    from ilms_dagster.instance import open_instance
    from ilms_dagster.guards import quoted
    from ilms_dagster.intake import SAMPLES_WARNING, inbox_is_empty, scan_inbox
    from ilms_dagster.partitions import round_partitions
    from ilms_dagster.recovery import sweep_dead_runs
    from ilms_dagster.resources import default_storage, default_warehouse
    from ilms_dagster.round_run import (QUIET_LOGS, FileWatcher, failure_message, partition_keys_held, run_round,
                                       wait_for_warehouse)

    instance = open_instance()
    storage = default_storage()
    # runs killed earlier must not hold the warehouse slot
    sweep_dead_runs(instance, report=lambda line: console.print(line, style="yellow", markup=False, highlight=False))
    inbox, skipped = scan_inbox(storage.inbox, round_partitions.get_partition_keys())
    for reason in skipped:
        console.print(f"skipped {reason}", style="yellow", markup=False, highlight=False)
    if inbox_is_empty(storage.inbox):
        console.print(SAMPLES_WARNING.format(inbox=quoted(str(storage.inbox))), style="bold red", markup=False, highlight=False)
    round_ = round_ or max((r for r, _ in inbox), default=ROUNDS[-1])
    countries = list(dict.fromkeys([c.upper() for c in country] if country
                                   else REPORTING_COUNTRIES + [c for r, c in inbox if r == round_]))  # fmt: skip
    defs = build_defs({"storage": storage, "warehouse": default_warehouse()})  # today's settings
    failed = []
    with instance, _progress() as progress:
        task = progress.add_task(f"Round {round_}: parse and validate", total=2 * len(countries))
        done = [0]

        def update(staged: int, loaded: int) -> None:
            progress.update(task, completed=done[0] + staged + loaded)

        watcher = FileWatcher(storage.staging, storage.feedback, round_, update)

        def starting(group: list[str]) -> None:
            done[0] = progress.tasks[0].completed
            progress.update(task, description=f"Round {round_}: {', '.join(group)}")
            watcher.watch(group, time.time() - 1)

        told: set[str] = set()

        def waiting(runs) -> None:
            for run in runs:
                if run.run_id not in told:
                    told.add(run.run_id)
                    progress.console.print(f"  waiting for run {run.run_id} ({run.job_name}), which writes the warehouse")

        started = time.monotonic()
        try:
            outcomes = run_round(defs.resolve_job_def("ingest_submissions"), instance, round_, countries, starting, waiting)
        finally:
            watcher.stop()
        progress.update(task, completed=2 * len(countries), description=f"Round {round_}")
        each = (time.monotonic() - started) / max(len(countries), 1)
        colour = {"ok": "[green]ok", "blocked": "[yellow]blocked by validation", "rejected": "[red]REJECTED",
                  "failed": "[red]FAILED"}  # fmt: skip
        for o in outcomes:
            progress.console.print(f"  {o.country} {round_}: {colour[o.status]}[/]")
            if o.status != "ok":
                failed.append((o.country, _blocking_errors(o) if o.status == "blocked" else o.message))
        progress.console.print(f"  {len(outcomes)} partitions in {time.monotonic() - started:.1f}s ({each:.1f}s each)")
        wait_for_warehouse(instance, waiting)
        started = time.monotonic()
        with partition_keys_held(instance):
            result = defs.resolve_job_def("build_models").execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET_LOGS
            )
        status = "[green]ok" if result.success else "[red]FAILED"
        progress.console.print(f"  models (staging + marts): {status}[/] ({time.monotonic() - started:.1f}s)")
        if not result.success:
            failed.append(("models", failure_message(result)))
    for code, message in failed:
        console.print(f"[red]{code} {round_}:[/] ", end="")
        console.print(message, markup=False, highlight=False)
    _print_summary(round_)
    if result.success and publish:
        _publish_after_run(round_)
    if failed:
        raise typer.Exit(1)


def _publish_after_run(round_: str) -> None:
    """The round's publication (ilms publish) after a successful models build, then where its overview is."""
    from ilms_dagster.cli_publish import publish_round
    from ilms_dagster.publication import PublicationError

    try:
        done = publish_round(round_, show=console)
    except PublicationError as exc:  # e.g. no Chromium for the PDF: the ingestion itself succeeded
        console.print(f"[yellow]Publication not complete:[/] {exc}", soft_wrap=True)
        return
    console.print(f"Overview of round {round_}: {done.overview}", highlight=False, soft_wrap=True)


def _blocking_errors(outcome) -> str:
    """What a focal point must fix, when blocking checks (not a crash) stopped the partition."""
    from ilms_dagster.resources.warehouse import connect_read_only

    with connect_read_only() as conn:
        (sha,) = conn.execute("SELECT submission_sha256 FROM validation.partition_status WHERE round = ? AND ref_area = ?"
                              " ORDER BY checked_at DESC LIMIT 1", [int(outcome.round), outcome.country]).fetchone()
        rows = conn.execute("SELECT table_id, rule, count(*) FROM validation.findings WHERE submission_sha256 = ?"
                            " AND round = ? AND ref_area = ? AND severity = 'error' GROUP BY ALL ORDER BY ALL",
                            [sha, int(outcome.round), outcome.country]).fetchall()  # fmt: skip
    from ilms_dagster.checks import feedback_path
    from ilms_dagster.resources import default_storage

    report = feedback_path(default_storage().feedback, outcome.round, outcome.country, sha)
    lines = [f"  {table}: {rule} ({n} error(s))" for table, rule, n in rows]
    return "\n".join(["blocked by validation (quarantined from the indicators):", *lines, f"  feedback: {report}"])


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)  # fmt: skip


@app.command()
def summary() -> None:
    """Print what the warehouse holds: values per ILMQ table and country (every round loaded), the
    partitions accepted and the completeness of the latest round received and overall."""
    _print_summary(None)


def _print_summary(round_: str | None) -> None:
    from ilms_dagster.resources.warehouse import connect_read_only, warehouse_path

    if not warehouse_path().exists():
        console.print(f"No warehouse yet at {warehouse_path()}: run `ilms run` first.")
        raise typer.Exit(1)
    with connect_read_only() as conn:
        union = " UNION ALL ".join(f"SELECT '{t}' AS tbl, ref_area, round, obs_value FROM ilmq.{t}" for t in TABLES)
        rows = conn.execute(
            f"SELECT tbl, ref_area, count(*) AS n FROM ({union}) GROUP BY ALL ORDER BY tbl, ref_area"
        ).fetchall()
        submissions = conn.execute("SELECT count(*), count(DISTINCT ref_area), max(round) FROM raw.submissions").fetchone()
        indicators = _indicators_summary(conn, round_)
    countries = sorted({r[1] for r in rows})
    counts = {(t, c): n for t, c, n in rows}
    console.print(_values_table(counts, countries))
    console.print(
        f"{submissions[0]} submissions from {submissions[1]} countries (latest round {submissions[2]}); "
        f"{sum(counts.values())} values in {len({t for t, _ in counts})} of {len(TABLES)} tables."
    )
    if indicators:
        console.print(indicators)


def _values_table(counts: dict[tuple[str, str], int], countries: list[str]) -> Table:
    """Values per ILMQ table (rows) and country (columns); for more than a dozen countries (no terminal is wide
    enough: 200 countries made 200 empty columns) one row per country instead, its values summed per family."""
    from ilms_dagster.resources.warehouse import warehouse_path

    if len(countries) <= 12:
        table = Table(title=f"Warehouse {warehouse_path()}: values per ILMQ table and country")
        table.add_column("table")
        for c in countries:
            table.add_column(c, justify="right")
        for t in TABLES:
            table.add_row(t, *[str(counts.get((t, c), "")) for c in countries])
        return table
    families = list(dict.fromkeys(t.family for t in TABLES.values()))
    table = Table(title=f"Warehouse {warehouse_path()}: values per country and table family")
    for name in ["country", "tables", *families]:
        table.add_column(name, justify="left" if name == "country" else "right")
    for c in countries:
        per_family = {f: sum(n for (t, cc), n in counts.items() if cc == c and TABLES[t].family == f) for f in families}
        reported = sum(1 for (_, cc) in counts if cc == c)
        table.add_row(c, f"{reported} of {len(TABLES)}", *[str(per_family[f] or "") for f in families])
    return table


def _indicators_summary(conn, round_: str | None = None) -> str:
    """One line on the models: partitions accepted by the checks, the completeness of the round (what its
    submissions filled) and overall (every round considered)."""
    built = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'"
                         " AND table_name = 'completeness'").fetchone()[0]  # fmt: skip
    headline = built and conn.execute(
        "SELECT filled_cells, expected_cells, completeness_pct FROM marts.completeness"
        " WHERE level = 'overall' AND expected_cells > 0"
    ).fetchone()
    if not headline:
        return ""
    filled, expected, pct = headline
    rounds = conn.execute("SELECT min(round), max(round) FROM marts.completeness WHERE level = 'round'").fetchone()
    of_round = conn.execute("SELECT round, filled_cells, expected_cells, completeness_pct FROM marts.completeness"
                            " WHERE level = 'round' AND round = coalesce(?, (SELECT max(round) FROM raw.submissions))",
                            [int(round_) if round_ else None]).fetchone()  # fmt: skip
    accepted, partitions = conn.execute(
        "SELECT (SELECT count(*) FROM staging.accepted_partitions),"
        " (SELECT count(*) FROM (SELECT DISTINCT round, ref_area FROM raw.submissions))"
    ).fetchone()
    line = (f"Indicators (marts.*, see docs/data_dictionary.md): {accepted} of {partitions} partitions accepted by "
            f"the checks; completeness of round {of_round[0]} {of_round[3]:.1f}% ({of_round[1]} of {of_round[2]} "
            f"country x table x year cells filled by its submissions); overall, rounds {rounds[0]}-{rounds[1]}, "
            f"{pct:.1f}% ({filled} of {expected}).")  # fmt: skip
    if accepted < partitions:
        line += " Partitions without a passing check (validation.partition_status) are quarantined from the marts."
    return line


@app.command()
def dictionary(
    out: Annotated[Path | None, typer.Option(help="Output file (default docs/data_dictionary.md)")] = None,
) -> None:
    """Regenerate the data dictionary of the SQL models (docs/data_dictionary.md) from their headers."""
    from ilms_dagster.models import DICTIONARY_PATH, write_dictionary

    path = write_dictionary(out or DICTIONARY_PATH)
    console.print(f"Wrote {path}")


@app.command("import-ilostat")
def import_ilostat(
    files: Annotated[list[Path], typer.Argument(help="ILOSTAT bulk CSV files (plain or .gz)", exists=True,
                                                dir_okay=False)],
    published: Annotated[str | None, typer.Option(help="Date ILOSTAT published the files (YYYY-MM-DD)")] = None,
) -> None:
    """Import published ILOSTAT bulk CSV files as the oldest vintage (round 0) of the ILMQ tables, in one
    transaction; print what was loaded, and what was not, by code. `ilms run` (or the models) then shows them."""
    from datetime import date

    from ilms_dagster.ilostat import IlostatError, read_files, report_lines, write_files
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
    console.print(f"{sum(f.rows_loaded for f in parsed)} published values from {len(parsed)} file(s) in the warehouse;"
                  " rebuild the models (`ilms run`, or the staging and marts groups) to see them in staging.latest.",
                  soft_wrap=True)


@app.command("export-ilostat")
def export_ilostat(
    round_: Annotated[str, typer.Option("--round", help="Collection round (year): the latest vintage up to it")],
    out: Annotated[Path, typer.Option(help="Output folder (ilostat/<indicator>.csv, sdmx/DF_<indicator>.csv)")],
) -> None:
    """Export a round as ILOSTAT bulk CSV and SDMX-CSV 2.0 (re-read with pysdmx), one file per indicator."""
    from ilms_dagster.ilostat_export import ExportError, export_round
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


DEV_SUPERSEDED = "Function `dev_command` is superseded"  # the start of Dagster 1.13's SupersessionWarning


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Address the UI listens on (its front door requires the printed token; "
                                      "keep 127.0.0.1 unless others must reach it, see docs/security.md)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the UI")] = 3000,
    allow_host: Annotated[list[str] | None, typer.Option(help="A further Host name the UI answers to (beside "
                                                         "127.0.0.1, localhost, ::1 and --host); repeatable")] = None,
) -> None:
    """Start the Dagster UI and daemon (`dagster dev`) on the project's instance (DAGSTER_HOME, seeded with the
    shipped dagster.yaml), on loopback, behind a front door that requires a per-start token (printed in the URL);
    SIGTERM or Ctrl-C stops it with every process it started (webserver, daemon, code server, runs), and so does a
    watchdog if `ilms dev` is killed."""
    import os

    from ilms_dagster.dev_process import run_process_group
    from ilms_dagster.front_door import HOSTS_ENV, TOKEN_ENV, new_token
    from ilms_dagster.instance import ensure_dagster_home

    home = ensure_dagster_home()
    token = new_token()
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Dagster UI: http://{shown}:{port}/?token={token}", highlight=False, soft_wrap=True)
    console.print(f"instance: DAGSTER_HOME={home} (its dagster.yaml); the UI requires the token above (a new one at "
                  "every start; docs/security.md)", highlight=False, soft_wrap=True)  # fmt: skip
    env = os.environ | {TOKEN_ENV: token, HOSTS_ENV: ",".join([host, *(allow_host or [])])}  # never on a command line
    # Run from DAGSTER_HOME: in the project folder `dagster dev` would warn that the dagster.yaml there "will not be
    # used" (true: it reads DAGSTER_HOME's copy). Dagster 1.13 also calls `dagster dev` superseded by `dg dev`
    # (package dagster-dg-cli, not a dependency: same webserver and daemon); that notice is filtered.
    raise typer.Exit(run_process_group([sys.executable, "-W", f"ignore:{DEV_SUPERSEDED}", "-m", "ilms_dagster.front_door",
                                        "dev", "-m", "ilms_dagster.definitions", "-h", host, "-p", str(port)],
                                       cwd=home, env=env))


from ilms_dagster.cli_analyst import export, sql  # noqa: E402
from ilms_dagster.cli_microdata import app as _microdata_app  # noqa: E402
from ilms_dagster.cli_review import app as _review_app  # noqa: E402
from ilms_dagster.cli_deploy import app as _deploy_app  # noqa: E402
from ilms_dagster.cli_publish import publish as _publish  # noqa: E402

app.command("publish")(_publish)

app.command()(sql)
app.command()(export)
app.add_typer(_microdata_app, name="microdata")
app.add_typer(_review_app, name="review")
app.add_typer(_deploy_app, name="deploy")


if __name__ == "__main__":
    app()
