"""The deliberate mistakes some sample submissions carry for the validation work (never in the latest round): the
cell each alters and the rule it breaks, and how it is planted in a sample's values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """A deliberate error in a sample submission: the cell altered and the validation rule it breaks."""

    round: str
    country: str
    table: str
    year: int
    classif1: str
    sex: str
    classif2: str | None
    rule: str
    description: str


DELIBERATE_MISTAKES: list[Mistake] = [
    Mistake(
        "2019",
        "KHM",
        "outflow_by_activity",
        2017,
        "ECO_AGGREGATE_CON",
        "SEX_M",
        None,
        "value_minimum",
        "a negative count (sign typed by mistake)",
    ),
    Mistake(
        "2020",
        "PHL",
        "outflow_by_destination",
        2018,
        "CDS_DES_SAU",
        "SEX_T",
        None,
        "sex_total",
        "SEX_T overwritten: no longer SEX_M + SEX_F",
    ),
    Mistake(
        "2021",
        "MYS",
        "emp_by_activity",
        2019,
        "ECO_AGGREGATE_MAN",
        "SEX_T",
        "CCT_CIT_NONCIT",
        "category_total",
        "a category far above its share: categories sum above ECO_SECTOR_TOTAL",
    ),
    Mistake(
        "2018",
        "IDN",
        "outflow_by_destination",
        2016,
        "CDS_DES_MYS",
        "SEX_F",
        None,
        "country_total",
        "a destination inflated: destinations sum above CDS_DES_TOTAL",
    ),
    Mistake(
        "2022",
        "THA",
        "emp_by_age",
        2020,
        "AGE_AGGREGATE_TOTAL",
        "SEX_T",
        "CBR_BIR_TOTAL",
        "migratory_total",
        "CBR_BIR_TOTAL no longer NATIVE + FOREIGN + X",
    ),
    Mistake(
        "2020",
        "SGP",
        "emp_by_age",
        2018,
        "AGE_AGGREGATE_Y25-54",
        "SEX_F",
        "CCT_CIT_NONCIT",
        "employed_le_labour_force",
        "employment above the labour force of the same group",
    ),
    Mistake(
        "2019",
        "THA",
        "inflow_by_occupation",
        2017,
        "OCU_SKILL_TOTAL",
        "SEX_T",
        None,
        "yoy_jump",
        "the whole year typed in persons instead of thousands (x1000), as THA 2017-2020 in ILOSTAT",
    ),
]


def inject(mistake: Mistake, values: dict) -> None:
    key = (mistake.table, mistake.year, mistake.classif1, mistake.sex, mistake.classif2)
    if key not in values:
        raise KeyError(f"deliberate mistake points at a value the sample does not report: {mistake}")
    if mistake.rule == "yoy_jump":
        for k in [k for k in values if k[0] == mistake.table and k[1] == mistake.year]:
            values[k] = round(values[k] * 1000, 3)
        return
    if mistake.rule == "employed_le_labour_force":
        lf = values[("lf_by_age", *key[1:])]
        values[key] = round(lf * 1.5, 3)
        return
    bump = {
        "value_minimum": -2 * values[key] - 1.234,
        "sex_total": 7.5,
        "category_total": 2 * values[key] + 100,
        "country_total": 50.0,
        "migratory_total": 123.456,
    }
    values[key] = round(values[key] + bump[mistake.rule], 3)
