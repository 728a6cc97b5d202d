"""`ilms run` (the main job: a round ingested, the models built, the round published) and `ilms summary`."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ilms_dagster.cli.options import collection_round, console, country_code
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS, TABLES


def run(
    round_: Annotated[
        str | None,
        typer.Option(
            "--round",
            callback=collection_round,
            help="Collection round (default: the newest round with a workbook "
            "in the inbox, else the latest sample round)",
        ),
    ] = None,
    country: Annotated[
        list[str] | None,
        typer.Option(
            help="Countries (default: the reporting countries and any "
            "other country with a workbook for the round in the inbox)",
            callback=lambda v: [country_code(c) for c in v] if v else v,
        ),
    ] = None,
    publish: Annotated[bool, typer.Option(help="Publish the round after the models (as `ilms publish` does)")] = True,
) -> None:
    """Run the main job: ingest one round for every country into the warehouse, print a summary, then publish
    the round."""
    from ilms_dagster.definitions import build_defs
    from ilms_dagster.intake.submissions import SAMPLES_WARNING, inbox_is_empty, scan_inbox
    from ilms_dagster.orchestration.instance import open_instance
    from ilms_dagster.orchestration.recovery import sweep_dead_runs
    from ilms_dagster.orchestration.round_run import (
        QUIET_LOGS,
        FileWatcher,
        failure_message,
        partition_keys_held,
        run_round,
        wait_for_warehouse,
    )
    from ilms_dagster.partitions import round_partitions
    from ilms_dagster.questionnaire.guards import quoted
    from ilms_dagster.resources import default_storage, default_warehouse

    instance = open_instance()
    storage = default_storage()
    # runs killed earlier must not hold the warehouse slot
    sweep_dead_runs(instance, report=lambda line: console.print(line, style="yellow", markup=False, highlight=False))
    inbox, skipped = scan_inbox(storage.inbox, round_partitions.get_partition_keys())
    for reason in skipped:
        console.print(f"skipped {reason}", style="yellow", markup=False, highlight=False)
    if inbox_is_empty(storage.inbox):
        console.print(
            SAMPLES_WARNING.format(inbox=quoted(str(storage.inbox))), style="bold red", markup=False, highlight=False
        )
    round_ = round_ or max((r for r, _ in inbox), default=ROUNDS[-1])
    countries = list(
        dict.fromkeys(
            [c.upper() for c in country] if country else REPORTING_COUNTRIES + [c for r, c in inbox if r == round_]
        )
    )
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
                    progress.console.print(
                        f"  waiting for run {run.run_id} ({run.job_name}), which writes the warehouse"
                    )

        started = time.monotonic()
        try:
            outcomes = run_round(
                defs.resolve_job_def("ingest_submissions"), instance, round_, countries, starting, waiting
            )
        finally:
            watcher.stop()
        progress.update(task, completed=2 * len(countries), description=f"Round {round_}")
        each = (time.monotonic() - started) / max(len(countries), 1)
        colour = {
            "ok": "[green]ok",
            "blocked": "[yellow]blocked by validation",
            "rejected": "[red]REJECTED",
            "failed": "[red]FAILED",
        }
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
    from ilms_dagster.cli.publish import publish_round
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
        (sha,) = conn.execute(
            "SELECT submission_sha256 FROM validation.partition_status WHERE round = ? AND ref_area = ?"
            " ORDER BY checked_at DESC LIMIT 1",
            [int(outcome.round), outcome.country],
        ).fetchone()
        rows = conn.execute(
            "SELECT table_id, rule, count(*) FROM validation.findings WHERE submission_sha256 = ?"
            " AND round = ? AND ref_area = ? AND severity = 'error' GROUP BY ALL ORDER BY ALL",
            [sha, int(outcome.round), outcome.country],
        ).fetchall()
    from ilms_dagster.checks import feedback_path
    from ilms_dagster.resources import default_storage

    report = feedback_path(default_storage().feedback, outcome.round, outcome.country, sha)
    lines = [f"  {table}: {rule} ({n} error(s))" for table, rule, n in rows]
    return "\n".join(["blocked by validation (quarantined from the indicators):", *lines, f"  feedback: {report}"])


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


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
        submissions = conn.execute(
            "SELECT count(*), count(DISTINCT ref_area), max(round) FROM raw.submissions"
        ).fetchone()
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
    built = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' AND table_name = 'completeness'"
    ).fetchone()[0]
    headline = (
        built
        and conn.execute(
            "SELECT filled_cells, expected_cells, completeness_pct FROM marts.completeness"
            " WHERE level = 'overall' AND expected_cells > 0"
        ).fetchone()
    )
    if not headline:
        return ""
    filled, expected, pct = headline
    rounds = conn.execute("SELECT min(round), max(round) FROM marts.completeness WHERE level = 'round'").fetchone()
    of_round = conn.execute(
        "SELECT round, filled_cells, expected_cells, completeness_pct FROM marts.completeness"
        " WHERE level = 'round' AND round = coalesce(?, (SELECT max(round) FROM raw.submissions))",
        [int(round_) if round_ else None],
    ).fetchone()
    accepted, partitions = conn.execute(
        "SELECT (SELECT count(*) FROM staging.accepted_partitions),"
        " (SELECT count(*) FROM (SELECT DISTINCT round, ref_area FROM raw.submissions))"
    ).fetchone()
    line = (
        f"Indicators (marts.*, see docs/data_dictionary.md): {accepted} of {partitions} partitions accepted by "
        f"the checks; completeness of round {of_round[0]} {of_round[3]:.1f}% ({of_round[1]} of {of_round[2]} "
        f"country x table x year cells filled by its submissions); overall, rounds {rounds[0]}-{rounds[1]}, "
        f"{pct:.1f}% ({filled} of {expected})."
    )
    if accepted < partitions:
        line += " Partitions without a passing check (validation.partition_status) are quarantined from the marts."
    return line
