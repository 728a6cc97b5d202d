"""The expectation suites give the same findings whichever engine runs them: DuckDB SQL (the pipeline's, one
query per expectation over the whole submission) and Great Expectations itself (one validation per table)."""

from __future__ import annotations

import pandas as pd
import pytest

from ilms_dagster.checks import run_expectations
from ilms_dagster.questionnaire.samples import DELIBERATE_MISTAKES, ensure_samples
from ilms_dagster.questionnaire.workbook import parse_workbook
from ilms_dagster.registry import ROUNDS
from tests.checks.test_checks import EXPECTATION_CASES, ROUND, _mutated, clean_tables  # noqa: F401  (a fixture)


def both(tables: dict, round_: str) -> tuple[list[dict], list[dict]]:
    def rows(engine):
        found = run_expectations(tables, round_, engine=engine)
        return sorted(found.to_dict("records"), key=lambda r: (r["table_id"], str(r["cell"]), r["rule"], r["found"]))

    return rows("duckdb"), rows("gx")


@pytest.mark.parametrize("rule", EXPECTATION_CASES)
def test_both_engines_flag_each_code_year_and_marker_alike(clean_tables, rule):
    table_id, column, value, _ = EXPECTATION_CASES[rule]
    sql, gx = both(_mutated(clean_tables, table_id, column, value), ROUND)
    assert sql == gx and len(sql) == 1 and sql[0]["rule"] == rule


@pytest.mark.parametrize("value, rule", [(-3.5, "value_minimum"), (2_500_000.0, "value_maximum")])
def test_both_engines_flag_values_out_of_range_alike(clean_tables, value, rule):
    sql, gx = both(_mutated(clean_tables, "outflow_by_destination", "obs_value", value), ROUND)
    assert sql == gx and [r["rule"] for r in sql] == [rule]


def test_both_engines_flag_duplicate_keys_alike(clean_tables):
    frame = clean_tables["outflow_by_destination"]
    tables = clean_tables | {"outflow_by_destination": frame.iloc[[0, 1, 0]].reset_index(drop=True)}
    sql, gx = both(tables, ROUND)
    assert sql == gx and [r["rule"] for r in sql] == ["unique_keys", "unique_keys"]


def test_both_engines_agree_on_every_submission_with_a_planted_mistake(tmp_path):
    """Before (GX, as the pipeline ran it until now) and after (DuckDB): the same findings, on real samples."""
    rounds = sorted({m.round for m in DELIBERATE_MISTAKES} | {ROUNDS[-1]})
    paths = ensure_samples(tmp_path, rounds=rounds)
    flagged = 0
    for path in paths:
        country, round_ = path.name[:3], path.parent.name
        sql, gx = both(parse_workbook(path, country, round_).tables, round_)
        assert sql == gx, path.name
        flagged += len(sql)
    assert flagged >= sum(m.rule.startswith("value_") for m in DELIBERATE_MISTAKES) > 0


def test_an_unknown_engine_is_a_clear_error(clean_tables):
    with pytest.raises(ValueError, match="unknown expectations engine 'spark'; choose one of duckdb, gx"):
        run_expectations(clean_tables, ROUND, engine="spark")


def test_frames_without_rows_have_nothing_to_check(clean_tables):
    empty = {t: f.iloc[0:0] for t, f in clean_tables.items()}
    assert run_expectations(empty, ROUND).empty and list(run_expectations(empty, ROUND).columns) == list(
        pd.DataFrame(columns=run_expectations(clean_tables, ROUND).columns).columns
    )
