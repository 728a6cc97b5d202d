"""The SQL rules on real published ILOSTAT rows (../shared/ilostat-sample): every inconsistency the sample's
README lists is flagged, none silently fixed. Each country's rows, all years, are checked as one submission."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ilms_dagster.checks.rules import run_sql_rules
from ilms_dagster.resources.warehouse import ensure_schema

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "ilostat-sample"
TABLE_OF = {  # ILOSTAT indicator file -> the ILMQ table holding it
    "MFL_FEMP_SEX_OCU_NB": "inflow_by_occupation",
    "MNA_OEMP_SEX_ECO_NB": "outflow_by_activity",
    "MNA_OEMP_SEX_OCU_NB": "outflow_by_occupation",
    "MST_TEMP_SEX_ECO_CBR_NB": "emp_by_activity",
    "MST_TEMP_SEX_ECO_CCT_NB": "emp_by_activity",
}


def published() -> pd.DataFrame:
    """Every row as published; `cell` = file:line, so a finding points back at the source row."""
    frames = []
    for stem, table_id in TABLE_OF.items():
        frame = pd.read_csv(SAMPLE / f"{stem}.csv", dtype={"classif2": "string"})
        frames.append(frame.assign(table_id=table_id, cell=[f"{stem}:{i + 2}" for i in range(len(frame))]))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def flagged(tmp_path_factory, ilostat_sample) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, found, folder = published(), [], tmp_path_factory.mktemp("ilostat")
    with duckdb.connect() as conn:
        ensure_schema(conn)
        for country, of_country in rows.groupby("ref_area"):
            parquet = {}
            for table_id, frame in of_country.groupby("table_id"):
                parquet[table_id] = folder / f"{country}_{table_id}.parquet"
                frame.drop(columns=["ref_area", "table_id"]).to_parquet(parquet[table_id])
            found.append(run_sql_rules(conn, parquet, 2025, country).assign(ref_area=country))
    return rows, pd.concat(found, ignore_index=True)


def rules_at(flagged, stem: str, country: str, year: int, sex: str, classif1: str, classif2: str | None = None) -> set:
    """Rules whose finding is at that published row, or names it (a sum names its parts)."""
    rows, found = flagged
    row = rows[
        (rows.cell.str.startswith(stem + ":"))
        & (rows.ref_area == country)
        & (rows.time == year)
        & (rows.sex == sex)
        & (rows.classif1 == classif1)
        & (rows.classif2.fillna("") == (classif2 or ""))
    ]
    assert len(row) == 1, (stem, country, year, sex, classif1, classif2)
    cell = row.cell.iloc[0]
    return set(found[(found.cell == cell) | found.message.str.contains(f"({cell})", regex=False)].rule)


CBR, CCT, MFL, ECO, OCU = (
    "MST_TEMP_SEX_ECO_CBR_NB",
    "MST_TEMP_SEX_ECO_CCT_NB",
    "MFL_FEMP_SEX_OCU_NB",
    "MNA_OEMP_SEX_ECO_NB",
    "MNA_OEMP_SEX_OCU_NB",
)
KNOWN = [  # the sample README's list: (file, country, year, sex, classif1, classif2) -> a rule that flags it
    ((MFL, "THA", 2017, "SEX_T", "OCU_SKILL_TOTAL"), "yoy_jump"),  # persons instead of thousands
    ((MFL, "THA", 2019, "SEX_T", "OCU_SKILL_L1"), "yoy_jump"),  # 821 against 34810 and 26571
    ((ECO, "IDN", 2020, "SEX_T", "ECO_SECTOR_TOTAL"), "total_across_tables"),  # 113.436 vs 112.928 by occupation
    ((OCU, "IDN", 2016, "SEX_F", "OCU_SKILL_TOTAL"), "category_total"),  # skill levels 145.314 vs 145.392
    ((OCU, "PHL", 2004, "SEX_T", "OCU_SKILL_TOTAL"), "category_total"),  # groups cover half the total
    ((CBR, "LAO", 2017, "SEX_M", "ECO_SECTOR_TOTAL", "CBR_BIR_FOREIGN"), "category_total"),  # no _X row
    ((CBR, "LAO", 2022, "SEX_M", "ECO_SECTOR_TOTAL", "CBR_BIR_NATIVE"), "category_total"),  # 0.554 short
    ((CBR, "MMR", 2014, "SEX_T", "ECO_SECTOR_NAG", "CBR_BIR_TOTAL"), "migratory_total"),  # no CBR_BIR_X row
    ((CBR, "THA", 2024, "SEX_T", "ECO_SECTOR_TOTAL", "CBR_BIR_TOTAL"), "total_across_tables"),  # vs citizenship
    ((CCT, "MYS", 2024, "SEX_F", "ECO_AGGREGATE_MEL", "CCT_CIT_CITIZEN"), "migratory_total"),  # 912.4 > total
    ((CCT, "MYS", 2024, "SEX_F", "ECO_SECTOR_IND", "CCT_CIT_CITIZEN"), "sex_total"),  # 1915.1: SEX_T != M + F
    ((CCT, "MYS", 2024, "SEX_M", "ECO_AGGREGATE_MAN", "CCT_CIT_TOTAL"), "migratory_total"),  # 2155.5 vs 1655.7
    ((CCT, "MYS", 2024, "SEX_M", "ECO_SECTOR_TOTAL", "CCT_CIT_NONCIT"), "category_total"),  # 2.7 short
    ((CCT, "MYS", 2006, "SEX_T", "ECO_SECTOR_TOTAL", "CCT_CIT_TOTAL"), "migratory_total"),  # no CITIZEN
    ((CCT, "THA", 2023, "SEX_T", "ECO_SECTOR_TOTAL", "CCT_CIT_TOTAL"), "yoy_jump"),  # 1/10,000
    ((CCT, "THA", 2018, "SEX_T", "ECO_SECTOR_TOTAL", "CCT_CIT_TOTAL"), "yoy_jump"),  # 2006-2014 non-citizens only
]


@pytest.mark.parametrize("where, rule", KNOWN, ids=lambda v: "-".join(map(str, v[1:5])) if isinstance(v, tuple) else v)
def test_every_known_inconsistency_of_the_published_rows_is_flagged(flagged, where, rule):
    assert rule in rules_at(flagged, *where)


def test_one_decimal_data_is_held_to_the_tolerance_not_silently_rounded(flagged):
    """MYS publishes one decimal: its many SEX_T vs M + F gaps of 0.1-0.2 are findings, not noise to drop."""
    _, found = flagged
    mys = found[(found.ref_area == "MYS") & (found.rule == "sex_total")]
    assert len(mys) >= 80 and set(mys.severity) == {"error"}


def test_consistent_published_series_give_no_error(flagged):
    """LAO outflows by activity, 2014-2023, add up: no sum rule fires on them; what is left are warnings on
    small sectors doubling or halving (and the 2020-2021 collapse of departures), for the focal point to confirm."""
    rows, found = flagged
    lao = rows[(rows.ref_area == "LAO") & rows.cell.str.startswith(ECO) & rows.time.between(2014, 2023)]
    on_lao = found[found.cell.isin(lao.cell)]
    assert set(on_lao.rule) == {"yoy_jump"} and set(on_lao.severity) == {"warning"}
