"""Model discovery: assets and upstream edges come from parsing the SQL; bad model files are clear errors;
the committed data dictionary is what the headers generate."""

from __future__ import annotations

import re
import shutil

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from typer.testing import CliRunner

from ilms_dagster.assets.sql_models import MODEL_ASSETS, model_assets
from ilms_dagster.cli import app
from ilms_dagster.models.build import DICTIONARY_PATH, build, build_all, render_dictionary
from ilms_dagster.models.discovery import MODELS_DIR, ModelError, discover, load_model
from ilms_dagster.registry import TABLES

K = dg.AssetKey


def _deps(assets: list[dg.AssetsDefinition]) -> dict[dg.AssetKey, set[dg.AssetKey]]:
    return {key: set(a.asset_deps[key]) for a in assets for key in a.keys}


def test_every_model_is_an_asset_with_the_upstream_edges_of_the_tables_it_reads():
    deps = _deps(MODEL_ASSETS)
    marts = {
        "stocks",
        "employment_structure",
        "flows",
        "returnees",
        "corridors",
        "completeness_grid",
        "completeness",
        "timeliness",
        "revisions_of_published",
        "status_matrix",
    }
    assert {k for k in deps if k.path[0] == "marts"} == {K(["marts", m]) for m in marts}
    assert deps[K(["staging", "ilmq_loaded"])] == {K(["ilmq", t]) for t in TABLES}
    assert deps[K(["staging", "ilmq_accepted"])] == {
        K(["staging", "ilmq_loaded"]),
        K(["staging", "accepted_tables"]),
        K(["raw", "ilostat_imports"]),
    }  # published ILOSTAT vintages
    assert deps[K(["staging", "accepted_tables"])] == {K(["staging", "ilmq_loaded"])}  # + validation.* (no assets)
    # validation.partition_status is read but is no asset; raw.submissions is the load step's asset
    assert deps[K(["staging", "accepted_partitions"])] == {K(["staging", "ilmq_loaded"]), K(["raw", "submissions"])}
    assert deps[K(["staging", "latest"])] == {K(["staging", "vintages"])}
    assert deps[K(["marts", "stocks"])] == {K(["staging", "latest"])}  # registry tables are written by the runner
    assert deps[K(["marts", "completeness"])] == {K(["marts", "completeness_grid"])}
    assert deps[K(["marts", "timeliness"])] == {
        K(["raw", "submissions"]),
        K(["staging", "accepted_partitions"]),
        K(["staging", "reporting_countries"]),
    }
    assert deps[K(["staging", "reporting_countries"])] == {K(["raw", "submissions"])}  # + the registry's countries
    assert deps[K(["marts", "status_matrix"])] == {K(["marts", "timeliness"])}  # + validation.* (no assets)


def test_the_ilmq_union_lists_every_registry_table_once_under_its_own_id():
    """ilmq_loaded.sql spells out the union of the ILMQ tables: a registry table missing there is a failure here."""
    text = (MODELS_DIR / "ilmq_loaded.sql").read_text()
    pairs = re.findall(r"SELECT '(\w+)' AS table_id, \* FROM ilmq\.(\w+)", text)
    assert [literal for literal, _ in pairs] == [table for _, table in pairs]
    missing = sorted(set(TABLES) - {t for _, t in pairs})
    assert not missing, "add to dbt_like_sql/ilmq_loaded.sql: " + " ".join(
        f"UNION ALL SELECT '{t}' AS table_id, * FROM ilmq.{t}" for t in missing
    )
    assert len(pairs) == len(TABLES)


def test_a_new_sql_file_is_a_new_asset_with_its_upstream_edges(tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(MODELS_DIR, folder)
    (folder / "migrant_share_ranking.sql").write_text("""/*
description: Countries ranked by the share of migrants in employment.
schema: marts
columns:
  ref_area: Country.
  share: Share (%).
  rank: Rank.
*/
WITH s AS (SELECT ref_area, migrant_share_of_employment_pct AS share FROM marts.stocks WHERE sex = 'SEX_T')
SELECT s.ref_area, s.share, rank() OVER (ORDER BY s.share DESC) AS rank
FROM s JOIN (SELECT DISTINCT ref_area FROM ilmq.emp_by_age) AS e USING (ref_area)
""")
    before, after = _deps(MODEL_ASSETS), _deps(model_assets(folder))
    new = K(["marts", "migrant_share_ranking"])
    assert set(after) - set(before) == {new}
    assert after[new] == {K(["marts", "stocks"]), K(["ilmq", "emp_by_age"])}  # the CTE `s` is no table
    warehouse = DuckDBResource(database=str(tmp_path / "w.duckdb"))
    defs = dg.Definitions(assets=model_assets(folder), resources={"warehouse": warehouse})
    assert defs.resolve_asset_graph().get(new).parent_keys == after[new]
    assert discover(folder)["migrant_share_ranking"].reads == (("ilmq", "emp_by_age"), ("marts", "stocks"))

    with warehouse.get_connection() as conn:  # upstream models first, then the new asset in a real run
        build_all(conn, {n: m for n, m in discover(folder).items() if n != "migrant_share_ranking"})
    result = dg.materialize(model_assets(folder), selection=[new], resources={"warehouse": warehouse})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    schema = event.materialization.metadata["dagster/column_schema"].value
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("ref_area", "VARCHAR", "Country."),
        ("share", "DOUBLE", "Share (%)."),
        ("rank", "BIGINT", "Rank."),
    ]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM marts.no_such_model", "reads marts.no_such_model, which is no model"),
        ("SELECT * FROM ilmq.no_such_table", "reads ilmq.no_such_table"),
        ("SELECT * FROM marts.latest", "(model latest is in schema staging)"),
        ("SELECT * FROM latest", "table 'latest' has no schema"),
        ("SELECT 1; SELECT 2", "exactly one SELECT statement, found 2"),
        ("DELETE FROM ilmq.emp_by_age", "exactly one SELECT statement"),
        ("SELECT FROM WHERE (", "not valid DuckDB SQL"),
    ],
)
def test_a_model_reading_an_unknown_table_is_an_error_naming_the_file(tmp_path, sql, message):
    shutil.copy(MODELS_DIR / "vintages.sql", tmp_path)
    shutil.copy(MODELS_DIR / "latest.sql", tmp_path)
    path = tmp_path / "broken.sql"
    path.write_text(f"/*\ndescription: x\nschema: marts\ncolumns: {{a: b}}\n*/\n{sql}\n")
    with pytest.raises(ModelError) as raised:
        model_assets(tmp_path)
    assert str(path) in str(raised.value) and message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1 AS a", "must start with a /* ... */ YAML header"),
        ("/*\nschema: marts\ncolumns: {a: b}\n*/\nSELECT 1 AS a", "`description` (text) is required"),
        ("/*\ndescription: x\nschema: public\ncolumns: {a: b}\n*/\nSELECT 1 AS a", "`schema` must be one of"),
        ("/*\ndescription: x\nschema: marts\n*/\nSELECT 1 AS a", "`columns` must map every output column"),
        ("/*\ndescription: x\nschema: marts\ncolumns: {a: b}\nowner: me\n*/\nSELECT 1 AS a", "unknown header key"),
    ],
)
def test_a_model_without_a_complete_header_is_an_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "m.sql"
    path.write_text(text)
    with pytest.raises(ModelError, match=re.escape(message)) as raised:
        load_model(path)
    assert str(path) in str(raised.value)


def test_models_reading_each_other_in_a_cycle_are_an_error(tmp_path):
    for name, other in [("a", "b"), ("b", "a")]:
        (tmp_path / f"{name}.sql").write_text(
            f"/*\ndescription: x\nschema: staging\ncolumns: {{x: y}}\n*/\nSELECT * FROM staging.{other}"
        )
    with pytest.raises(ModelError, match="cycle"):
        discover(tmp_path)


def test_a_column_left_undescribed_takes_the_description_of_the_model_it_reads(tmp_path):
    models = discover()
    accepted, loaded = models["ilmq_accepted"].columns, models["ilmq_loaded"].columns  # a pass-through
    assert list(accepted) == list(loaded) and accepted["classif2"] == loaded["classif2"]
    assert models["latest"].columns["sex"] == models["ilmq_loaded"].columns["sex"]
    assert models["latest"].columns["round"] == (
        "Collection round of the latest vintage (0 = the published ILOSTAT value)."
    )  # its own description
    path = tmp_path / "m.sql"
    path.write_text("/*\ndescription: x\nschema: marts\ncolumns: {a: , b: The b.}\n*/\nSELECT 1 AS a, 2 AS b\n")
    with pytest.raises(ModelError, match="column 'a' has no description, and no model it reads documents it") as raised:
        discover(tmp_path)
    assert str(path) in str(raised.value)
    # ref_area is described differently by the two models ilmq_accepted reads: it must be described there
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    accepted = tmp_path / "models" / "ilmq_accepted.sql"
    accepted.write_text(re.sub(r"(?m)^  ref_area: .*$", "  ref_area:", accepted.read_text()))
    with pytest.raises(ModelError, match="column 'ref_area' has no description, and the models it reads describe it"):
        discover(tmp_path / "models")


def test_a_build_whose_columns_differ_from_the_header_fails_and_leaves_the_table_as_it_was(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder, select in [(good, "SELECT 1 AS a"), (bad, "SELECT 2 AS a, 3 AS b")]:
        folder.mkdir()
        (folder / "m.sql").write_text(f"/*\ndescription: x\nschema: marts\ncolumns: {{a: The a.}}\n*/\n{select}\n")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        assert build(conn, load_model(good / "m.sql")).rows == 1
        with pytest.raises(ModelError, match=r"undocumented \['b'\]") as raised:
            build(conn, load_model(bad / "m.sql"))
        assert str(bad / "m.sql") in str(raised.value)
        assert conn.execute("SELECT * FROM marts.m").fetchall() == [(1,)]
        with pytest.raises(ModelError, match="Binder Error"):  # a SQL error names the file too, same rollback
            (bad / "m.sql").write_text("/*\ndescription: x\nschema: marts\ncolumns: {a: A.}\n*/\nSELECT nope AS a\n")
            build(conn, load_model(bad / "m.sql"))
        assert conn.execute("SELECT * FROM marts.m").fetchall() == [(1,)]


def test_the_committed_data_dictionary_is_up_to_date():
    assert DICTIONARY_PATH.read_text() == render_dictionary(), "run `uv run ilms dictionary` and commit the result"


def test_the_dictionary_command_writes_every_model_and_column(tmp_path):
    out = tmp_path / "dictionary.md"
    result = CliRunner().invoke(app, ["dictionary", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for model in discover().values():
        assert f"## {model.table}" in text
        for column in model.columns:
            assert f"| `{column}` |" in text
    assert (
        "| `migrant_share_of_employment_pct` | DOUBLE | Migrant workers as a share of total employment (%). |" in text
    )
