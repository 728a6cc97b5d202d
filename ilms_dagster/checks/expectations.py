"""The Great Expectations suites of expectations/ run on the tidy rows of a submission, in one pass.

Suites are data (GX 1.x JSON); their `{"$PARAMETER": name}` values are filled per table and round from the
registry, so one suite serves every table of its families. Two engines run the same suite and give the same
findings (tests/checks/test_expectations_engines.py):

- `duckdb` (default): each expectation is translated to one SQL query over every table of the submission at
  once (the parameters joined per table), in an in-memory DuckDB: one pass per expectation for the whole
  workbook, ~1 ms each, and no GX import (seconds) in the pipeline's processes.
- `gx`: Great Expectations itself, one validation per table, in an ephemeral context built once per process:
  the reference, and the engine for suites using expectation types the translator does not know.

Either runs where the workbook is parsed: outside the warehouse lock.
"""

from __future__ import annotations

import json
import os
from functools import cache

import pandas as pd

from ilms_dagster.checks.findings import FINDING_COLUMNS
from ilms_dagster.registry import MIGRATORY_STATUS, SEX, TABLES, UNITS, TableSpec, reference_years
from ilms_dagster.resources.storage import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "expectations"
CHECK_NAME = "expectations"
# GX's cost is per expectation, not per row: a quick pass/fail first, the offending cells only on failure.
_QUICK = {"result_format": "BOOLEAN_ONLY"}
_COMPLETE = {"result_format": "COMPLETE", "unexpected_index_column_names": ["cell"]}


@cache
def suites_by_family() -> dict[str, dict]:
    """{family: suite as JSON}; every family of the registry must have exactly one suite."""
    out: dict[str, dict] = {}
    for path in sorted(SUITES_DIR.glob("*.json")):
        suite = json.loads(path.read_text())
        for family in suite["meta"]["families"]:
            if family in out:
                raise ValueError(f"{path}: family {family!r} already has suite {out[family]['name']!r}")
            out[family] = suite
    if missing := {t.family for t in TABLES.values()} - set(out):
        raise ValueError(f"{SUITES_DIR}: no expectation suite for families {sorted(missing)}")
    return out


def parameters(table: TableSpec, round_: str | int) -> dict:
    """The suite parameters of one table in one round, from the registry."""
    unit = UNITS[table.unit]
    years = reference_years(round_)
    statuses = sorted({c for b in table.bases for c in MIGRATORY_STATUS[b]})
    return {
        "min_value": unit.min,
        "max_value": unit.max,
        "strict_min": unit.strict_min,
        "min_op": ">" if unit.strict_min else ">=",
        "unit": unit.label.lower(),
        "indicators": table.indicators,
        "indicators_text": ", ".join(table.indicators),
        "sexes": list(SEX),
        "sexes_text": ", ".join(SEX),
        "categories": list(table.codes),
        "classification": table.classification.replace("_", " "),
        "statuses": statuses,
        "statuses_text": ", ".join(statuses) or "none: flow tables have one breakdown",
        "first_year": years[0],
        "last_year": years[-1],
        "round": int(round_),
    }


@cache
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return (
        context.data_sources.add_pandas("ilmq")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("rows")
    )


@cache
def _suite(family: str):
    import great_expectations as gx

    return gx.ExpectationSuite(**{k: v for k, v in suites_by_family()[family].items() if k != "meta"})


def _run_gx(tables: dict[str, pd.DataFrame], round_: str | int) -> pd.DataFrame:
    """Findings of every table's suite by Great Expectations, one validation per table."""
    rows = []
    for table_id, frame in tables.items():
        if frame.empty:
            continue
        table = TABLES[table_id]
        params, family = parameters(table, round_), table.family
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame.reset_index(drop=True)})
        if batch.validate(_suite(family), expectation_parameters=params, result_format=_QUICK).success:
            continue
        result = batch.validate(_suite(family), expectation_parameters=params, result_format=_COMPLETE)
        for outcome in result.results:
            if outcome.success:
                continue
            if outcome.exception_info.get("raised_exception"):
                raise RuntimeError(
                    f"expectation suite {family!r} failed to run on {table_id}: "
                    f"{outcome.exception_info['exception_message']}"
                )
            for hit in outcome.result.get("unexpected_index_list") or [{"cell": None}]:
                values = [v for k, v in hit.items() if k != "cell"]
                rows.append(_finding(outcome.expectation_config.meta, table_id, hit["cell"], values, params))
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def _finding(meta: dict, table_id: str, cell: str | None, values: list, params: dict) -> dict:
    """One finding, its texts from the expectation's meta filled with the table's parameters."""
    found = ", ".join("blank" if v is None or v is pd.NA else f"{v}" for v in values) or "?"
    return {
        "table_id": table_id,
        "cell": cell,
        "check_name": CHECK_NAME,
        "rule": meta["rule"],
        "severity": "error",
        "expected": meta["expected"].format(**params),
        "found": found,
        "message": meta["message"].format(**params, found=found),
    }


ENGINES = ("duckdb", "gx")


def run_expectations(tables: dict[str, pd.DataFrame], round_: str | int, engine: str = "duckdb") -> pd.DataFrame:
    """Findings (FINDING_COLUMNS) of every table's suite; a table without rows has nothing to check."""
    if engine == "gx":
        return _run_gx(tables, round_)
    if engine != "duckdb":
        raise ValueError(f"unknown expectations engine {engine!r}; choose one of {', '.join(ENGINES)}")
    from ilms_dagster.checks.expectations_sql import run_suites_in_duckdb

    return run_suites_in_duckdb(tables, round_)
