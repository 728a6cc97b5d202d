"""The registry is data: every table is described once, and a new entry is all a new table needs."""

from __future__ import annotations

import pytest

from ilms_dagster.assets.ilmq import TABLE_SPECS
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import parse_workbook
from ilms_dagster.registry import CLASSIFICATIONS, FAMILIES, TABLES, load_tables


def test_registry_covers_every_family_and_the_required_tables():
    assert len(TABLES) >= 20
    assert {t.family for t in TABLES.values()} == set(FAMILIES)
    indicators = {i for t in TABLES.values() for i in t.indicators}
    for code in [
        "MST_XWAP_SEX_AGE_CBR_NB",
        "MST_TEIP_SEX_EDU_CCT_NB",
        "MST_TEMP_SEX_STE_CBR_NB",
        "MST_EARA_SEX_CCT_NB",
        "MFL_FEMP_SEX_ECO_NB",
        "MFL_NCIT_SEX_CCT_NB",
        "MNA_OEMP_SEX_CDS_NB",
        "MNA_OEMP_SEX_EDU_NB",
        "MNA_XRET_SEX_CPR_NB",
    ]:
        assert code in indicators
    assert {spec.key.path[-1] for spec in TABLE_SPECS} >= set(TABLES)  # one asset per table


def test_code_lists_use_ilostat_codes():
    assert list(CLASSIFICATIONS["age"])[0] == "AGE_AGGREGATE_TOTAL"
    assert "OCU_SKILL_L3-4" in CLASSIFICATIONS["occupation"]
    destinations = CLASSIFICATIONS["destination"]
    assert list(destinations)[0] == "CDS_DES_TOTAL" and list(destinations)[-1] == "CDS_DES_X"
    assert "CDS_DES_SAU" in destinations


def test_a_new_entry_is_a_new_sheet_parsed_into_its_own_table(tmp_path):
    entry = {
        "id": "inflow_by_education",
        "indicator": "MFL_FEMP_SEX_EDU_NB",
        "family": "inflow",
        "title": "Inflows of foreign workers by sex and education",
        "classification": "education",
        "bases": [],
        "unit": "thousands",
    }
    (table,) = load_tables([entry]).values()
    path = write_workbook(
        tmp_path / "x.xlsx",
        "SGP",
        2024,
        tables=[table],
        values={("inflow_by_education", 2023, "EDU_AGGREGATE_ADV", "SEX_F", None): 12.5},
    )
    frame = parse_workbook(path, "SGP", "2024", tables=[table]).tables["inflow_by_education"]
    assert frame[["indicator", "classif1", "sex", "time", "obs_value"]].values.tolist() == [
        ["MFL_FEMP_SEX_EDU_NB", "EDU_AGGREGATE_ADV", "SEX_F", 2023, 12.5]
    ]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"family": "stocks"}, "unknown family 'stocks'"),
        ({"classification": "religion"}, "unknown classification"),
        ({"id": "x" * 32}, "longer than Excel's 31-character"),
    ],
)
def test_a_bad_entry_is_refused_with_its_name(change, message):
    entry = {
        "id": "t",
        "indicator": "I",
        "family": "inflow",
        "title": "T",
        "classification": "age",
        "unit": "thousands",
    }
    with pytest.raises(ValueError, match=message):
        load_tables([entry | change])
