"""The sample submissions: deterministic, consistent where clean, wrong exactly where declared."""

from __future__ import annotations

import pandas as pd
import pytest

from ilms_dagster.questionnaire.samples import AGGREGATES, DELIBERATE_MISTAKES, sample_values, write_sample
from ilms_dagster.questionnaire.workbook import parse_workbook
from ilms_dagster.registry import ROUNDS, TABLES

LATEST = ROUNDS[-1]


def parsed(tmp_path, country: str, round_: str) -> dict[str, pd.DataFrame]:
    return parse_workbook(write_sample(tmp_path, country, round_), country, round_).tables


def test_same_inputs_same_bytes(tmp_path):
    a = write_sample(tmp_path / "a", "PHL", "2021").read_bytes()
    b = write_sample(tmp_path / "b", "PHL", "2021").read_bytes()
    assert a == b


def _values(frame: pd.DataFrame) -> dict[tuple, float]:
    rows = frame.dropna(subset=["obs_value"])
    return {
        (r.indicator, r.time, r.classif1, r.sex, r.classif2 if isinstance(r.classif2, str) else None): r.obs_value
        for r in rows.itertuples()
    }


@pytest.mark.parametrize("country", ["THA", "MYS", "PHL"])
def test_clean_submission_satisfies_the_identities(tmp_path, country):
    tables = parsed(tmp_path, country, LATEST)
    checked = 0
    for table_id, frame in tables.items():
        table, values = TABLES[table_id], _values(frame)
        if table.unit != "thousands":
            continue
        for (ind, year, code, sex, status), value in values.items():
            if sex == "SEX_T" and (m := values.get((ind, year, code, "SEX_M", status))) is not None:
                assert value == pytest.approx(m + values[(ind, year, code, "SEX_F", status)], abs=0.0015)
                checked += 1
            if code == table.total_category:
                leaves = [c for c in list(table.categories)[1:] if c not in AGGREGATES.get(table.classification, {})]
                parts = [values.get((ind, year, c, sex, status)) for c in leaves]
                if all(p is not None for p in parts):
                    assert value == pytest.approx(sum(parts), abs=0.001 * len(parts))
                    checked += 1
            if status and status.endswith("_TOTAL"):
                others = [
                    s for s in frame["classif2"].unique() if isinstance(s, str) and s[:3] == status[:3] and s != status
                ]
                parts = [values.get((ind, year, code, sex, s)) for s in others]
                if all(p is not None for p in parts):
                    assert value == pytest.approx(sum(parts), abs=0.0015 * len(parts))
                    checked += 1
        if table_id == "emp_by_activity":
            for (ind, year, code, sex, status), value in values.items():
                if code == "ECO_SECTOR_NAG":
                    total = values[(ind, year, "ECO_SECTOR_TOTAL", sex, status)]
                    assert value == pytest.approx(total - values[(ind, year, "ECO_SECTOR_AGR", sex, status)], abs=0.002)
    assert checked > 100
    if "lf_by_age" in tables:  # wap = lf + olf, lf = emp + unemp, cell by cell
        emp, unemp, lf = (_values(tables[t]) for t in ("emp_by_age", "unemp_by_age", "lf_by_age"))
        for key, value in lf.items():
            key_emp = (key[0].replace("TEAP", "TEMP"), *key[1:])
            key_unemp = (key[0].replace("TEAP", "TUNE"), *key[1:])
            assert value == pytest.approx(emp[key_emp] + unemp[key_unemp], abs=0.0015)


@pytest.mark.parametrize("mistake", DELIBERATE_MISTAKES, ids=lambda m: f"{m.country}{m.round}-{m.rule}")
def test_each_deliberate_mistake_is_at_its_declared_cell(tmp_path, mistake):
    assert mistake.round != LATEST  # the main job loads the latest round: it must be clean
    clean, _ = sample_values(mistake.country, LATEST)  # the same key in another round is unaltered
    values, _ = sample_values(mistake.country, mistake.round)
    key = (mistake.table, mistake.year, mistake.classif1, mistake.sex, mistake.classif2)
    frame = parsed(tmp_path, mistake.country, mistake.round)[mistake.table]
    row = frame[
        (frame.time == mistake.year)
        & (frame.classif1 == mistake.classif1)
        & (frame.sex == mistake.sex)
        & (frame.classif2.fillna("") == (mistake.classif2 or ""))
    ]
    assert len(row) == 1 and row.obs_value.iloc[0] == values[key]
    if mistake.rule == "value_minimum":
        assert values[key] < 0
    elif mistake.rule == "yoy_jump":
        previous = values[(mistake.table, mistake.year - 1, mistake.classif1, mistake.sex, mistake.classif2)]
        assert values[key] > 100 * previous
    elif mistake.rule == "employed_le_labour_force":
        assert values[key] > values[("lf_by_age", *key[1:])]
    elif mistake.rule == "sex_total":
        assert abs(values[key] - values[key[:3] + ("SEX_M", key[4])] - values[key[:3] + ("SEX_F", key[4])]) > 1


def test_variety_of_real_submissions():
    values = {c: sample_values(c, LATEST)[0] for c in ("LAO", "PHL", "THA", "BRN", "MMR", "MYS")}
    lao_returns = {k[2] for k in values["LAO"] if k[0] == "returns_by_previous_residence"}
    assert lao_returns == {"CPR_PRV_TOTAL"}  # totals only
    assert {k[3] for k in values["PHL"] if k[0] == "outflow_by_occupation"} == {"SEX_T"}  # both sexes only
    assert any(v == 0 for k, v in values["THA"].items() if k[2] == "OCU_ISCO08_0")  # explicit zeros
    assert "x" in values["BRN"].values() and ".." in sample_values("MMR", "2021")[0].values()  # markers
    assert not any(
        k[0].startswith("outflow") for k in values["MYS"] if k[0] == "wap_by_age" and k[4] == "CBR_BIR_TOTAL"
    )
    assert not any(k[4] and k[4].startswith("CBR") for k in values["MYS"])  # MYS reports citizenship only
    # revisions: a year in two rounds' windows differs for a revising country, not for a non-revising one
    key = ("emp_by_activity", 2022, "ECO_SECTOR_TOTAL", "SEX_T", "CCT_CIT_TOTAL")
    assert sample_values("MYS", "2023")[0][key] != sample_values("MYS", "2024")[0][key]
    key = ("emp_by_activity", 2022, "ECO_SECTOR_TOTAL", "SEX_T", "CCT_CIT_TOTAL")
    assert sample_values("SGP", "2023")[0][key] == sample_values("SGP", "2024")[0][key]
