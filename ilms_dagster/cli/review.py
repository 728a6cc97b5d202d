"""`ilms review`: accept a finding as a known source inconsistency (with a reason and a name), list what is open."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Review validation findings: accept known source inconsistencies, list open errors.", no_args_is_help=True
)
console = Console(soft_wrap=True)


@app.command("accept")
def accept_command(
    round_: Annotated[int, typer.Option("--round", help="Collection round (year)")],
    country: Annotated[str, typer.Option(help="ISO3 code of the reporting country")],
    table: Annotated[str, typer.Option(help="ILMQ table id of the finding (as in the feedback workbook)")],
    rule: Annotated[str, typer.Option(help="Rule of the finding, e.g. sex_total")],
    reason: Annotated[str, typer.Option(help="Why the figure stands, e.g. 'published so by the source'")],
    cell: Annotated[
        str | None, typer.Option(help="Cell of the finding (default: every open error of the rule in the table)")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Reviewer (default: the login name)")] = None,
) -> None:
    """Accept open errors of the latest submission as known source inconsistencies: values unchanged, the
    table (or partition) unblocked. Takes effect in the models at their next build (`ilms run`, build_models)."""
    from ilms_dagster.checks.reviews import Review, ReviewError, accept, open_errors
    from ilms_dagster.registry import TABLES
    from ilms_dagster.resources.warehouse import connect_writer, publish_read_copy, warehouse_path

    if table not in TABLES:
        raise typer.BadParameter(f"unknown table {table!r}; tables: {', '.join(TABLES)}", param_hint="--table")
    if not reason.strip():
        raise typer.BadParameter("give the reason the figure stands", param_hint="--reason")
    review = Review(
        round_, country.upper(), table, rule, cell.upper() if cell else None, reason.strip(), by or getpass.getuser()
    )
    with connect_writer(warehouse_path()) as conn:
        try:
            accepted = accept(conn, review)
        except ReviewError as exc:
            console.print(f"[red]{exc}[/]", highlight=False)
            raise typer.Exit(1) from None
        left = open_errors(conn, round_, review.ref_area)
        publish_read_copy(conn)  # analysts (and `ilms review list`) see the review
    for row in accepted.itertuples(index=False):
        console.print(
            f"accepted {review.ref_area} {round_} {row.table_id} {row.cell} {row.rule}: {row.message}", highlight=False
        )
    state = "no open error: the partition is accepted" if left.empty else f"{len(left)} open error(s) left"
    console.print(
        f"{len(accepted)} finding(s) accepted by {review.reviewer} ({review.reason}); {state}. "
        "Rebuild the models to take it in: `ilms run` or the job build_models.",
        highlight=False,
    )


@app.command("list")
def list_command(
    round_: Annotated[int, typer.Option("--round", help="Collection round (year)")],
    country: Annotated[str, typer.Option(help="ISO3 code of the reporting country")],
) -> None:
    """The open errors of a partition's latest submission, and the reviews recorded for it."""
    from ilms_dagster.checks.reviews import open_errors
    from ilms_dagster.resources.warehouse import connect_read_only

    with connect_read_only() as conn:
        left = open_errors(conn, round_, country.upper())
        reviews = conn.execute(
            "SELECT table_id, cell, rule, found, reason, reviewer, reviewed_at FROM validation.reviews"
            " WHERE round = ? AND ref_area = ? ORDER BY reviewed_at, table_id, cell",
            [round_, country.upper()],
        ).fetchall()
    console.print(f"{country.upper()} {round_}: {len(left)} open error(s)", highlight=False)
    for row in left.itertuples(index=False):
        console.print(f"  {row.table_id} {row.cell} {row.rule}: {row.message}", highlight=False)
    console.print(f"{len(reviews)} review(s)", highlight=False)
    for table, cell, rule, found, reason, reviewer, at in reviews:
        console.print(
            f"  {table} {cell} {rule} (found {found}): {reason} ({reviewer}, {at:%Y-%m-%d %H:%M})", highlight=False
        )
