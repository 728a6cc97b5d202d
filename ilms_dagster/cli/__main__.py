"""`python -m ilms_dagster.cli`: the `ilms` command."""

from ilms_dagster.cli import app

app()
