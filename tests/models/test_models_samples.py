"""The models on the sample data, the way the main command builds them: the latest round's ten sample
workbooks go through the real intake (archive, parse, expectation suites, stage) and the one-transaction load
with the SQL rules and the verdict in validation.partition_status, then every model asset is materialized
in a real Dagster run.
The analysts' page's completeness figures and analyst queries are checked against the result."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from typer.testing import CliRunner

from ilms_dagster.assets.sql_models import MODEL_ASSETS
from ilms_dagster.checks import record, run_expectations, validate_submission
from ilms_dagster.cli import app
from ilms_dagster.intake.submissions import archive, find_submission, stage
from ilms_dagster.models.discovery import discover
from ilms_dagster.questionnaire.samples import DELIBERATE_MISTAKES
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS, TABLES, open_rounds, reference_years
from ilms_dagster.resources import IlmsStorage
from ilms_dagster.resources.warehouse import ensure_schema, replace_partition, transaction

ANALYSTS = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"  # the analysts' page


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> tuple[Path, dg.ExecuteInProcessResult]:
    round_ = ROUNDS[-1]
    assert not [m for m in DELIBERATE_MISTAKES if m.round == round_]  # the latest round's samples are clean
    root = tmp_path_factory.mktemp("samples")
    storage = IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox"))  # empty inbox: bundled samples
    path = root / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_schema(conn)
        for country in REPORTING_COUNTRIES:
            received = archive(storage, find_submission(storage, round_, country))
            staged = stage(storage, round_, country, received, expectations=run_expectations)
            with transaction(conn):
                replace_partition(conn, round_, country, staged.parquet_by_table, staged.submission)
                validation = validate_submission(conn, staged)
                record(conn, validation)
            assert validation.errors == 0, validation.findings  # the latest round's samples are clean
    result = dg.materialize(MODEL_ASSETS, resources={"warehouse": DuckDBResource(database=str(path))})
    return path, result


def _query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def completeness_figures(path: Path) -> str:
    """The completeness table the README shows: the round's, per country, then the round's headline."""
    round_ = int(ROUNDS[-1])
    rows = _query(
        path,
        "SELECT coalesce(ref_area, 'round'), filled_cells, expected_cells, completeness_pct"
        f" FROM marts.completeness WHERE level IN ('country_round', 'round') AND round = {round_}"
        " ORDER BY level = 'round', ref_area",
    )
    lines = ["| country | filled / expected cells | completeness |", "|---|---:|---:|"]
    for country, filled, expected, pct in rows:
        if country == "round":
            lines.append(f"| **all ten (round {round_})** | **{filled} / {expected}** | **{pct:.1f}%** |")
        else:
            lines.append(f"| {country} | {filled} / {expected} | {pct:.1f}% |")
    families = _query(
        path,
        "SELECT family, completeness_pct FROM marts.completeness WHERE level = 'family_round'"
        f" AND round = {round_} ORDER BY family",
    )
    lines += ["", "By family: " + ", ".join(f"{f} {p:.1f}%" for f, p in families) + "."]
    return "\n".join(lines)


def readme_queries() -> list[str]:
    section = ANALYSTS.read_text().split("\n## Indicators", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def test_every_model_asset_materializes_with_its_documented_column_schema(samples):
    path, result = samples
    assert result.success
    events = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    models = discover()
    assert set(events) == {dg.AssetKey([m.schema, m.name]) for m in models.values()}
    for model in models.values():
        metadata = events[dg.AssetKey([model.schema, model.name])]
        columns = metadata["dagster/column_schema"].value.columns
        assert [(c.name, c.description) for c in columns] == list(model.columns.items())
        types = dict(
            _query(
                path,
                "SELECT column_name, data_type FROM information_schema.columns WHERE"
                f" table_schema = '{model.schema}' AND table_name = '{model.name}'",
            )
        )
        assert {c.name: c.type for c in columns} == types
        rows = _query(path, f"SELECT count(*) FROM {model.table}")[0][0]
        # revisions of published ILOSTAT figures need an import (tests/ilostat/test_ilostat.py); the samples have none
        assert metadata["dagster/row_count"].value == rows and (rows > 0 or model.name == "revisions_of_published")


def test_completeness_reports_every_country_and_the_headline_and_the_readme_shows_them(samples):
    path, _ = samples
    rows = _query(
        path,
        "SELECT ref_area, expected_cells FROM marts.completeness WHERE level = 'country_round'"
        f" AND round = {ROUNDS[-1]} ORDER BY 1",
    )
    assert rows == [(c, 72) for c in sorted(REPORTING_COUNTRIES)]  # a round's grid: 24 tables x its 3 years
    (headline,) = _query(
        path,
        f"SELECT filled_cells, expected_cells FROM marts.completeness WHERE level = 'round' AND round = {ROUNDS[-1]}",
    )
    assert headline[1] == 720 and 0 < headline[0] < 720
    # overall: every round from the first received to the current one, the later ones still empty
    rounds = [r for r in open_rounds() if r >= ROUNDS[-1]]
    years = {y for r in rounds for y in reference_years(r)}
    (overall,) = _query(path, "SELECT filled_cells, expected_cells FROM marts.completeness WHERE level = 'overall'")
    assert overall == (headline[0], len(REPORTING_COUNTRIES) * len(TABLES) * len(years))
    figures = completeness_figures(path)
    assert figures in ANALYSTS.read_text(), f"update the completeness figures of docs/analysts.md to:\n{figures}"


def test_the_readme_analyst_queries_run_as_written_on_the_sample_warehouse(samples):
    path, _ = samples
    queries = readme_queries()
    assert len(queries) >= 5
    for sql in queries:
        assert _query(path, sql), f"no rows from:\n{sql}"


def test_sample_indicators_are_consistent(samples):
    path, _ = samples
    # stocks: migrants + non-migrants never exceed the total (samples satisfy the identities exactly)
    assert _query(
        path,
        "SELECT count(*) FROM marts.stocks WHERE migrant_workers_thousands"
        " + nonmigrant_workers_thousands > employment_thousands + 0.0005",
    ) == [(0,)]
    # every value comes from the one round loaded
    assert _query(path, "SELECT DISTINCT round FROM staging.latest") == [(int(ROUNDS[-1]),)]
    # the corridor matrix has both reports for some pair of reporting countries
    assert _query(
        path,
        "SELECT count(*) > 0 FROM marts.corridors WHERE mirror_discrepancy_thousands IS NOT NULL"
        " AND 'ROW' NOT IN (origin, destination)",
    ) == [(True,)]
    rounds = [r for r in open_rounds() if r >= ROUNDS[-1]]  # the round loaded to the current one
    assert _query(path, "SELECT count(*) FROM marts.timeliness") == [(len(REPORTING_COUNTRIES) * len(rounds),)]


def test_summary_prints_the_headline_completeness(samples, monkeypatch):
    path, _ = samples
    monkeypatch.setenv("ILMS_WAREHOUSE", str(path))
    result = CliRunner().invoke(app, ["summary"])
    assert result.exit_code == 0, result.output
    (pct,) = _query(
        path, f"SELECT completeness_pct FROM marts.completeness WHERE level = 'round' AND round = {ROUNDS[-1]}"
    )[0]
    (overall,) = _query(path, "SELECT completeness_pct FROM marts.completeness WHERE level = 'overall'")[0]
    text = " ".join(result.output.split())
    assert f"10 of 10 partitions accepted by the checks; completeness of round {ROUNDS[-1]} {pct:.1f}%" in text
    assert f"overall, rounds {ROUNDS[-1]}-{open_rounds()[-1]}, {overall:.1f}%" in text


def analyst_commands() -> list[str]:
    section = ANALYSTS.read_text().split("\n## Indicators", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, re.S)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_analyst_commands_run_as_written(samples, tmp_path, monkeypatch):
    """Every line of the analysts' page's analyst block, from a project folder holding data/warehouse_read.duckdb: the
    `ilms` lines through the CLI, the Python one-liner in a real interpreter (`uv run python` = this one)."""
    import shutil
    import subprocess
    import sys

    path, _ = samples
    (tmp_path / "data").mkdir()
    shutil.copy(path, tmp_path / "data" / "warehouse_read.duckdb")
    shutil.copy(path, tmp_path / "data" / "warehouse.duckdb")
    (tmp_path / "query.sql").write_text(readme_queries()[0])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ILMS_WAREHOUSE", str(tmp_path / "data" / "warehouse.duckdb"))
    commands = analyst_commands()
    assert len(commands) >= 5
    for command in commands:
        assert command.startswith("uv run ")
        words = __import__("shlex").split(command.removeprefix("uv run "))
        if words[0] == "ilms":
            done = CliRunner().invoke(app, words[1:])
            assert done.exit_code == 0, (command, done.output)
            assert "rows" in done.output or "Wrote" in done.output
        else:
            done = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0 and done.stdout.strip(), (command, done.stderr)
    printed = CliRunner().invoke(app, ["sql", "--file", "query.sql"]).output
    header = printed.splitlines()[0].split()
    assert {"migrant_workers_k", "share_of_employment_pct", "female_pct"} <= set(header)  # the headline columns
    flows = __import__("openpyxl").load_workbook(tmp_path / "flows.xlsx")["data"]
    head = [c.value for c in flows[1]]
    assert head[head.index("ref_area") + 1] == "ref_area_label" and head[head.index("sex") + 1] == "sex_label"
    assert _query(path, "SELECT count(*) FROM marts.flows")[0][0] == flows.max_row - 1


def test_export_writes_every_format_with_labels_and_no_formula(samples, tmp_path, monkeypatch):
    import openpyxl
    import pandas as pd

    path, _ = samples
    monkeypatch.setenv("ILMS_WAREHOUSE", str(path))
    risky = "SELECT 'THA' AS ref_area, 'CDS_DES_ISR' AS classif1, '=HYPERLINK(\"x\")' AS note, '+1' AS t, '@a' AS u, 1.5 AS v"
    for suffix in ("csv", "parquet", "xlsx"):
        done = CliRunner().invoke(app, ["export", risky, "--out", str(tmp_path / f"r.{suffix}")])
        assert done.exit_code == 0, done.output
    csv = pd.read_csv(tmp_path / "r.csv")
    assert list(csv.columns) == ["ref_area", "ref_area_label", "classif1", "classif1_label", "note", "t", "u", "v"]
    assert csv.iloc[0].tolist()[:4] == ["THA", "Thailand", "CDS_DES_ISR", "Israel"]
    assert pd.read_parquet(tmp_path / "r.parquet").equals(
        pd.read_csv(tmp_path / "r.csv", dtype={"t": str}).astype(
            pd.read_parquet(tmp_path / "r.parquet").dtypes.to_dict()
        )
    )
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["data"]
    cells = {ws.cell(1, j).value: ws.cell(2, j) for j in range(1, ws.max_column + 1)}
    assert cells["note"].value == '=HYPERLINK("x")' and cells["note"].data_type == "s"
    assert (cells["t"].data_type, cells["u"].data_type) == ("s", "s") and cells["v"].value == 1.5
    bad = CliRunner().invoke(app, ["export", "marts.no_such_mart", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1 and "marts.no_such_mart is not in the warehouse" in " ".join(bad.output.split())
    assert not (tmp_path / "x.csv").exists()
    bad = CliRunner().invoke(app, ["export", "marts.flows", "--out", str(tmp_path / "x.json")])
    assert bad.exit_code == 1 and "is not one of csv, parquet, xlsx" in " ".join(bad.output.split())
