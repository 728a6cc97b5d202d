"""What every `ilms` command shares: the console and the checks of --round and --country."""

from __future__ import annotations

import re

import typer
from rich.console import Console

console = Console()


def collection_round(value: str | None) -> str | None:
    """A --round given on the command line: one of the collection's rounds so far (the round partitions)."""
    from ilms_dagster.registry import open_rounds

    rounds = open_rounds()
    if value is not None and value not in rounds:
        raise typer.BadParameter(
            f"{value!r} is not a collection round: the rounds are {rounds[0]}-{rounds[-1]} "
            f"(a year; the current year's round is the latest)",
            param_hint="--round",
        )
    return value


def country_code(value: str | None) -> str | None:
    """A --country given on the command line: an ISO 3166-1 alpha-3 code (any case)."""
    if value is not None and not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise typer.BadParameter(
            f"{value!r} is not an ISO 3166-1 alpha-3 country code (three letters, e.g. THA)", param_hint="--country"
        )
    return value.strip().upper() if value is not None else None
