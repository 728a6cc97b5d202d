"""The analysts' commands start without the heavy stacks: `ilms --help`, `ilms sql` and `ilms export` import neither
Dagster nor pandas (nor Great Expectations, Altair, Matplotlib). Checked on the modules a real interpreter imports
(`python -X importtime`), never on time: benchmarks/startup.py measures the seconds."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

HEAVY = {"dagster", "dagster_duckdb", "pandas", "great_expectations", "altair", "matplotlib", "celery"}


def imported(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `ilms ARGS` in a fresh interpreter; its output and the top-level packages it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ilms_dagster.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ | env,
        timeout=120,
        check=False,
    )
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "typer" in names, done.stderr[-2000:]  # the listing was read
    return done, names


@pytest.fixture
def warehouse(tmp_path) -> dict[str, str]:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.flows AS SELECT 'THA' AS ref_area, 'SEX_F' AS sex, 12.5 AS obs_value")
    return {"ILMS_WAREHOUSE": str(path), "ILMS_DATA_DIR": str(tmp_path)}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["sql", "SELECT 1 AS one"],
        ["sql", "marts.flows", "--labels"],
        ["export", "marts.flows", "--out", "{tmp}/flows.csv"],
        ["export", "marts.flows", "--out", "{tmp}/flows.parquet"],
    ],
)
def test_analyst_commands_import_neither_dagster_nor_pandas(args, warehouse, tmp_path):
    done, names = imported([a.format(tmp=tmp_path) for a in args], warehouse)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert names & HEAVY == set(), f"ilms {' '.join(args)} imported {sorted(names & HEAVY)}"
    if args[0] == "sql":
        assert "(1 rows)" in done.stdout
    if args[0] == "sql" and "--labels" in args:
        assert "Thailand" in done.stdout and "Female" in done.stdout and "12.5" in done.stdout
    if args[0] == "export":
        assert (tmp_path / args[-1].rsplit("/", 1)[1]).exists() and "Wrote" in done.stdout


def test_sql_without_a_warehouse_is_a_clear_message(tmp_path):
    done, names = imported(["sql", "SELECT 1"], {"ILMS_WAREHOUSE": str(tmp_path / "none.duckdb")})
    assert done.returncode == 1 and "No warehouse at" in done.stdout and "Traceback" not in done.stderr
    assert names & HEAVY == set()
