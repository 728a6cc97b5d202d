"""`ilms sql` and `ilms export`: the analysts' way into the warehouse's read copy, no DuckDB CLI needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(soft_wrap=True)


def sql(
    query_text: Annotated[
        str | None, typer.Argument(metavar="QUERY", help="SQL, or a table such as marts.flows")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the SQL from a file")] = None,
    labels: Annotated[bool, typer.Option(help="Add a label column beside every column of codes")] = False,
) -> None:
    """Run a query on the warehouse's read copy and print every column of the result."""
    from ilms_dagster.models.extracts import ExportError, query
    from ilms_dagster.resources.locations import connect_read_only, warehouse_path

    text = file.read_text() if file else query_text
    if not text:
        raise typer.BadParameter("give a query (or a table name) or --file", param_hint="QUERY")
    if not warehouse_path().exists():
        console.print(f"[red]No warehouse at {warehouse_path()}: run `ilms run` first[/red]")
        raise typer.Exit(1)
    try:
        with connect_read_only() as conn:
            frame = query(conn, text, labels=labels)
    except ExportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(frame.text(), markup=False, highlight=False)
    console.print(f"({len(frame)} rows)")


def export(
    what: Annotated[str, typer.Argument(help="A mart or table (e.g. marts.flows) or a SELECT query")],
    out: Annotated[Path, typer.Option(help="Output file (.csv, .parquet or .xlsx)")],
    format_: Annotated[str | None, typer.Option("--format", help="csv, parquet or xlsx (default: from --out)")] = None,
    labels: Annotated[bool, typer.Option(help="Add a label column beside every column of codes")] = True,
) -> None:
    """Write a mart, a table or a query's result to CSV, Parquet or Excel, labels beside codes."""
    from ilms_dagster.models.extracts import ExportError, labelled_sql, relation_sql, write
    from ilms_dagster.resources.locations import connect_read_only, warehouse_path

    if not warehouse_path().exists():
        console.print(f"[red]No warehouse at {warehouse_path()}: run `ilms run` first[/red]")
        raise typer.Exit(1)
    try:
        with connect_read_only() as conn:
            sql = labelled_sql(conn, what) if labels else relation_sql(what, conn)
            path, rows, columns = write(conn, sql, out, format_)
    except ExportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"Wrote {path}: {rows} rows, {columns} columns")
