"""ILOSTAT history import on the real published rows of ../shared/ilostat-sample: real DuckDB warehouses, real
Dagster materializations (the import asset and the models) and the `ilms import-ilostat` command."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource
from typer.testing import CliRunner

from ilms_dagster.assets.ilostat_files import ilostat_imports
from ilms_dagster.assets.sql_models import MODEL_ASSETS
from ilms_dagster.cli import app
from ilms_dagster.ilostat.imports import INDICATORS, PUBLISHED_ROUND
from ilms_dagster.resources import IlmsStorage
from ilms_dagster.resources.warehouse import latest_values

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "ilostat-sample"
FILES = sorted(SAMPLE.glob("*.csv"))
KEY = ["ref_area", "indicator", "sex", "classif1", "classif2", "time"]
runner = CliRunner()


def resources(root: Path) -> dict:
    return {
        "storage": IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox")),
        "warehouse": DuckDBResource(database=str(root / "warehouse.duckdb")),
    }


def import_and_build(root: Path, files=FILES) -> dg.ExecuteInProcessResult:
    """Drop the files in <data>/ilostat/ and materialize the import asset and every model, as the UI would."""
    (root / "ilostat").mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, root / "ilostat" / f.name)
    return dg.materialize([ilostat_imports, *MODEL_ASSETS], resources=resources(root))


def query(root: Path, sql: str, params=None) -> pd.DataFrame:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql, params or []).df()


def published() -> pd.DataFrame:
    """The sample's rows as published, with whether the registry's code lists hold their codes (by the test's
    own reading of the registry: classif1 in the table's categories, classif2 in the indicator's basis)."""
    frame = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in FILES], ignore_index=True)

    def known(row) -> bool:
        table, codes = INDICATORS[row.indicator]
        return row.classif1 in table.categories and row.classif2 in codes["classif2"] and row.sex in codes["sex"]

    return frame.assign(
        known=[known(r) for r in frame.itertuples()],
        time=frame.time.astype(int),
        obs_value=frame.obs_value.astype(float),
    )


@pytest.fixture(scope="module")
def imported(tmp_path_factory, ilostat_sample) -> tuple[Path, dg.ExecuteInProcessResult]:
    root = tmp_path_factory.mktemp("published")
    result = import_and_build(root)
    assert result.success
    return root, result


def test_import_counts_by_indicator_code_and_year(imported):
    root, result = imported
    rows = published()
    assert len(rows) == 4768  # the sample README's total
    meta = result.asset_materializations_for_node("raw__ilostat_imports")[0].metadata
    assert meta["files"].value == 5 and meta["rows_read"].value == 4768
    assert meta["rows_loaded"].value == int(rows.known.sum()) == 3433
    assert meta["rows_loaded"].value + meta["rows_not_loaded"].value == 4768
    files = query(
        root,
        "SELECT file_name, rows_read, rows_loaded, rows_unknown_codes, rows_other_indicators"
        " FROM raw.ilostat_imports ORDER BY file_name",
    )
    assert files.values.tolist() == [
        ["MFL_FEMP_SEX_OCU_NB.csv", 201, 200, 1, 0],
        ["MNA_OEMP_SEX_ECO_NB.csv", 359, 304, 55, 0],
        ["MNA_OEMP_SEX_OCU_NB.csv", 633, 607, 26, 0],
        ["MST_TEMP_SEX_ECO_CBR_NB.csv", 1327, 807, 520, 0],
        ["MST_TEMP_SEX_ECO_CCT_NB.csv", 2248, 1515, 733, 0],
    ]
    # by code: every row not loaded is counted under its code, in the warehouse and in the metadata
    skipped = query(
        root, "SELECT indicator, dimension, code, sum(rows)::INT AS n FROM raw.ilostat_skipped GROUP BY ALL"
    )
    expected = rows[~rows.known].groupby(["indicator", "classif1"]).size()
    assert {(i, c): n for i, d, c, n in skipped.values.tolist()} == expected.to_dict()
    assert set(skipped.dimension) == {"classif1"}  # ISIC4 detail, ECO_AGGREGATE_TOTAL, OCU_ISCO08_TOTAL
    assert (
        "| MST_TEMP_SEX_ECO_CCT_NB.csv | MST_TEMP_SEX_ECO_CCT_NB | classif1 | ECO_AGGREGATE_TOTAL | 120 |"
        in meta["not_loaded"].value
    )
    # by year: what each indicator's year holds in ilmq.* (round 0) is what the file publishes
    loaded = query(
        root,
        "SELECT indicator, time, count(*)::INT AS n FROM staging.ilmq_loaded WHERE round = ? GROUP BY ALL",
        [PUBLISHED_ROUND],
    )
    assert {(i, t): n for i, t, n in loaded.values.tolist()} == rows[rows.known].groupby(
        ["indicator", "time"]
    ).size().to_dict()
    assert loaded.time.min() == 2004 and loaded.time.max() == 2024  # any reference year, not only a round's window


def test_every_imported_value_is_reproduced_cell_for_cell_through_staging_latest(imported):
    root, _ = imported
    rows = published()
    rows = rows[rows.known].assign(classif2=lambda f: f.classif2.replace("", None))
    latest = query(
        root, "SELECT ref_area, indicator, sex, classif1, classif2, time, obs_value, round, source FROM staging.latest"
    )
    assert len(latest) == len(rows) == 3433 and set(latest["round"]) == {PUBLISHED_ROUND}
    both = rows.merge(latest, on=KEY, how="outer", suffixes=("_published", "_latest"), indicator=True)
    assert set(both["_merge"]) == {"both"}
    assert ((both.obs_value_published - both.obs_value_latest).abs() <= 0.0005).all()
    assert set(latest.source) == {"ILOSTAT"}
    cells = query(root, "SELECT cell FROM staging.ilmq_loaded").cell  # file:line of the published row
    assert cells.str.fullmatch(r"M[A-Z_]+\.csv:\d+").all() and cells.is_unique
    # the marts see them: e.g. THA's 2024 employment by place of birth, as published
    stocks = query(root, "SELECT ref_area, time FROM marts.stocks WHERE ref_area = 'THA' AND time = 2024")
    assert len(stocks) > 0


@pytest.mark.usefixtures("ilostat_sample")
def test_import_is_idempotent_and_atomic(project):
    first = runner.invoke(app, ["import-ilostat", *map(str, FILES), "--published", "2025-11-30"])
    assert first.exit_code == 0, first.output
    assert "3433 published values from 5 file(s)" in first.output
    once = project.snapshot()
    again = runner.invoke(app, ["import-ilostat", *map(str, FILES)])
    assert again.exit_code == 0, again.output
    assert project.snapshot() == once  # same files twice: the same warehouse, first import date kept
    bad = project.root / "broken.csv"
    bad.write_text(
        "ref_area,indicator,sex,classif1,time,obs_value\nTHA,MNA_OEMP_SEX_ECO_NB,SEX_T,ECO_SECTOR_TOTAL,"
        "2030,12.5\nTHA,MNA_OEMP_SEX_ECO_NB,SEX_T,ECO_SECTOR_AGR,2030,1O.2\n"
    )
    refused = runner.invoke(app, ["import-ilostat", str(FILES[0]), str(bad)])
    assert refused.exit_code == 1
    assert "broken.csv: line 3, column obs_value: '1O.2' is not a number" in " ".join(refused.output.split())
    assert project.snapshot() == once  # nothing half-written


def test_unknown_codes_and_indicators_are_counted_and_reported_by_code_status_and_notes_carried(project):
    path = project.root / "ilostat" / "bulk.csv.gz"  # gzip, .label columns, the optional columns
    path.parent.mkdir()
    text = (
        "ref_area,ref_area.label,source,indicator,sex,classif1,classif2,time,obs_value,obs_status,note_classif,"
        "note_indicator,note_source\n"
        "PHL,Philippines,AA:123,MNA_OEMP_SEX_ECO_NB,SEX_T,ECO_SECTOR_TOTAL,,2030,10.5,B,,T9:2104,R1:3902\n"
        "PHL,Philippines,AA:123,MNA_OEMP_SEX_ECO_NB,SEX_O,ECO_SECTOR_TOTAL,,2030,0.5,,,,\n"
        "PHL,Philippines,AA:123,MNA_OEMP_SEX_ECO_NB,SEX_T,ECO_SECTOR_XYZ,,2030,1,,,,\n"
        "PHL,Philippines,AA:123,MNA_OEMP_SEX_ECO_NB,SEX_T,ECO_SECTOR_XYZ,,2031,2,,,,\n"
        "PHL,Philippines,BA:1,UNE_TUNE_SEX_AGE_NB,SEX_T,AGE_YTHADULT_Y15-24,,2030,3,,,,\n"
    )
    path.write_bytes(gzip.compress(text.encode()))
    out = runner.invoke(app, ["import-ilostat", str(path)])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert "5 rows read, 1 loaded, 1 of other indicators, 3 with unknown codes" in said
    assert "not loaded: indicator UNE_TUNE_SEX_AGE_NB is in no ILMQ table: 1 rows (first at line 6)" in said
    assert (
        "not loaded: MNA_OEMP_SEX_ECO_NB sex SEX_O is not in the registry's code list: 1 rows (first at line 3)" in said
    )
    assert (
        "MNA_OEMP_SEX_ECO_NB classif1 ECO_SECTOR_XYZ is not in the registry's code list: 2 rows (first at line 4)"
        in said
    )
    assert project.query(
        "SELECT indicator, reason, dimension, code, rows, first_line FROM raw.ilostat_skipped ORDER BY first_line"
    ) == [
        ("MNA_OEMP_SEX_ECO_NB", "unknown code", "sex", "SEX_O", 1, 3),
        ("MNA_OEMP_SEX_ECO_NB", "unknown code", "classif1", "ECO_SECTOR_XYZ", 2, 4),
        ("UNE_TUNE_SEX_AGE_NB", "other indicator", None, None, 1, 6),
    ]
    assert project.query("SELECT round, source, obs_value, obs_status, note, cell FROM ilmq.outflow_by_activity") == [
        (0, "AA:123", 10.5, "B", "note_indicator: T9:2104 | note_source: R1:3902", "bulk.csv.gz:2")
    ]
    # the asset (folder <data>/ilostat/) reports the same, as metadata
    result = dg.materialize([ilostat_imports], resources=project.resources)
    meta = result.asset_materializations_for_node("raw__ilostat_imports")[0].metadata
    assert meta["rows_loaded"].value == 1 and meta["rows_not_loaded"].value == 4
    assert "| bulk.csv.gz | MNA_OEMP_SEX_ECO_NB | sex | SEX_O | 1 |" in meta["not_loaded"].value


def test_a_missing_column_is_a_clear_error(project):
    bad = project.root / "nocol.csv"
    bad.write_text("ref_area,indicator,sex,time\nTHA,MNA_OEMP_SEX_ECO_NB,SEX_T,2020\n")
    out = runner.invoke(app, ["import-ilostat", str(bad)])
    assert out.exit_code == 1 and "nocol.csv: line 1: missing column(s) obs_value" in " ".join(out.output.split())


@pytest.mark.usefixtures("ilostat_sample")
def test_a_submitted_value_wins_over_the_published_one_and_the_revision_is_listed(project):
    cbr = next(f for f in FILES if f.stem == "MST_TEMP_SEX_ECO_CBR_NB")
    assert import_and_build(project.root, [cbr]).success
    key = ["THA", "MST_TEMP_SEX_ECO_CBR_NB", "SEX_T", "ECO_SECTOR_TOTAL", "CBR_BIR_TOTAL", 2019]
    where = "ref_area = ? AND indicator = ? AND sex = ? AND classif1 = ? AND classif2 = ? AND time = ?"
    (published_value,) = project.query(f"SELECT obs_value FROM staging.latest WHERE {where}", key)[0]
    with duckdb.connect(str(project.warehouse_path), read_only=True) as conn:  # prefill offers the published value
        offered = latest_values(conn, "THA", [2018, 2019, 2020])
    assert offered[("emp_by_activity", 2019, "ECO_SECTOR_TOTAL", "SEX_T", "CBR_BIR_TOTAL")] == published_value

    assert project.materialize("2021", "THA").success  # the bundled sample submission (2018-2020)
    assert dg.materialize(MODEL_ASSETS, resources=project.resources).success
    (submitted,) = project.query(f"SELECT obs_value FROM ilmq.emp_by_activity WHERE round = 2021 AND {where}", key)[0]
    assert round(submitted, 3) != round(published_value, 3)
    assert project.query(f"SELECT round, obs_value FROM staging.latest WHERE {where}", key) == [(2021, submitted)]
    assert project.query(
        f"SELECT published_value, submitted_value, round, is_latest, difference FROM "
        f"marts.revisions_of_published WHERE {where}",
        key,
    ) == [(published_value, submitted, 2021, True, pytest.approx(submitted - published_value))]
    # a published year no round asked for stays published
    assert project.query(f"SELECT round FROM staging.latest WHERE {where}", [*key[:5], 2024]) == [(0,)]
    with duckdb.connect(str(project.warehouse_path), read_only=True) as conn:  # prefill: the newest submission wins
        offered = latest_values(conn, "THA", [2018, 2019, 2020])
    assert offered[("emp_by_activity", 2019, "ECO_SECTOR_TOTAL", "SEX_T", "CBR_BIR_TOTAL")] == submitted


def test_the_ilostat_assets_are_in_their_own_groups_and_in_no_job():
    from ilms_dagster.assets.ilostat_files import ILOSTAT_ASSETS
    from ilms_dagster.definitions import defs

    keys = {k for a in ILOSTAT_ASSETS for k in a.keys}
    graph = defs.resolve_asset_graph()
    assert {graph.get(k).group_name for k in keys} == {"ilostat", "exports"}
    for job in ("ingest_submissions", "build_models"):
        assert not keys & set(defs.resolve_job_def(job).asset_layer.selected_asset_keys)
