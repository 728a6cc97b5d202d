"""Weighted tabulation of survey microdata: a small hand-made LFS file in every format, every cell compared
with weighted sums computed by hand here (with the registry's categories written out independently of the
package's crosswalks), thresholds, sampling errors, and the errors a focal point sees."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ilms_dagster.microdata import MicrodataError, load_mapping, tabulate, write_outputs
from ilms_dagster.registry import IDENTITIES, TABLES
from tests.support.microdata_synth import mapping_spec, synthetic_lfs, write_survey

# The hand-made survey, in standard terms: one person a row. isic = ISIC rev.4 section, isco = ISCO-08 4-digit
# code, icse = ICSE-93, birth/cit = ISO3 (None: not stated), None elsewhere = not asked / not stated.
COLUMNS = [
    "hh",
    "stratum",
    "psu",
    "weight",
    "sex",
    "age",
    "lfs",
    "isced",
    "isic",
    "isco",
    "icse",
    "birth",
    "cit",
    "earnings",
]
PERSONS = [
    (1, 1, 1, 1500.0, "M", 34, "EMP", 3, "C", 7123, 1, "THA", "THA", 12000),
    (1, 1, 1, 1500.0, "F", 31, "EMP", 5, "G", 2311, 1, "THA", "THA", 18000),
    (1, 1, 1, 1500.0, "F", 8, None, None, None, None, None, "THA", "THA", None),  # a child: not counted
    (2, 1, 1, 1200.5, "M", 22, "UNE", 2, None, None, None, "THA", "THA", None),
    (2, 1, 1, 1200.5, "F", 67, "OLF", 0, None, None, None, "THA", "THA", None),
    (3, 1, 2, 800.25, "M", 45, "EMP", 1, "A", 6111, 3, "MMR", "MMR", None),
    (3, 1, 2, 800.25, "F", 40, "EMP", 1, "A", 6111, 5, "MMR", "MMR", None),
    (3, 1, 2, 800.25, "M", 19, "EMP", 2, "F", 9313, 1, "MMR", "MMR", 7000),
    (4, 1, 2, 950.0, "M", 58, "EMP", 4, "O", 3355, 1, "THA", "THA", 25000),
    (4, 1, 2, 950.0, "F", 55, "OLF", None, None, None, None, "THA", "THA", None),
    (5, 2, 3, 2100.0, "M", 29, "EMP", 6, "K", 2411, 1, "KHM", "THA", 30000),  # naturalised
    (5, 2, 3, 2100.0, "F", 27, "EMP", 6, "Q", 2221, 1, "KHM", "KHM", 28000),
    (5, 2, 3, 2100.0, "M", 2, None, None, None, None, None, "THA", "THA", None),
    (6, 2, 3, 1750.75, "F", 61, "EMP", 0, "A", 6121, 2, "THA", "THA", None),
    (6, 2, 3, 1750.75, "M", 70, "OLF", 1, None, None, None, "THA", "THA", None),
    (7, 2, 4, 1320.0, "F", 24, "UNE", 3, None, None, None, None, None, None),
    (7, 2, 4, 1320.0, "M", 36, "EMP", 3, None, 110, 6, None, "THA", None),  # activity not stated, armed forces
    (8, 2, 4, 990.0, "F", 50, "EMP", 2, "I", 5131, 1, "MMR", "MMR", None),  # earnings not reported
    (8, 2, 4, 990.0, "M", 52, "EMP", 8, "M", 1120, 2, "THA", "THA", None),
    (8, 2, 4, 990.0, "F", 15, "OLF", 2, None, None, None, "THA", "THA", None),
    (9, 1, 1, 1100.0, "M", 44, "EMP", 3, "B", 8111, 4, "THA", "THA", None),
    (9, 1, 1, 1100.0, "F", 42, "EMP", 3, "D", None, 1, "THA", "MMR", 15000),  # occupation not stated
    (10, 2, 3, 600.0, "F", 38, "EMP", 7, "G", 5223, 1, "SGP", "SGP", 40000),
    (10, 2, 4, 600.0, "M", 65, "EMP", 2, "A", 9211, 5, "THA", "THA", None),
]
THRESHOLDS = {"suppress_below": 2, "unreliable_below": 4, "max_cv": 1000.0}
ISO_NUM = {"THA": 764, "MMR": 104, "KHM": 116, "SGP": 702}
LFS = {"EMP": 1, "UNE": 2, "OLF": 3}
SECTIONS = "ABCDEFGHIJKLMNOPQRSTU"


def truth() -> pd.DataFrame:
    return pd.DataFrame(PERSONS, columns=COLUMNS)


def survey_frame() -> pd.DataFrame:
    """The hand-made survey coded as a national office would: numbers with labels, text sections, ISO numeric."""
    t = truth()
    return pd.DataFrame(
        {
            "hhid": t.hh,
            "strat": t.stratum,
            "ea": t.psu,
            "wgt": t.weight,
            "sex": t.sex.map({"M": 1, "F": 2}),
            "age": t.age,
            "status": t.lfs.map(LFS),
            "educ": t.isced.fillna(99).astype(int),
            "section": t.isic.fillna(""),
            "isco": t.isco.astype("float64"),
            "icse": t.icse.astype("float64"),
            "cob": t.birth.fillna(""),
            "nat": t.cit.map(ISO_NUM).fillna(999).astype(int),
            "earn": t.earnings.astype("float64"),
        }
    )


MAPPING = {
    "country": "THA",
    "survey": "LFS",
    "source": "BA:Hand-made LFS",
    "design": {"weight": "wgt", "strata": "strat", "psu": "ea"},
    "thresholds": THRESHOLDS,
    "secondary_suppression": False,  # primary suppression only: every cell's flag follows from its count
    "variables": {
        "sex": {"variable": "sex", "codes": {1: "M", 2: "F"}},
        "age": {"variable": "age"},
        "labour_force_status": {"variable": "status", "codes": {1: "EMP", 2: "UNE", 3: "OLF"}},
        "education": {"variable": "educ", "codes": {i: str(i) for i in range(9)} | {99: "X"}},
        "economic_activity": {"variable": "section", "codes": {s: s for s in SECTIONS}, "missing": "X"},
        "occupation": {
            "variable": "isco",
            "ranges": [[g * 1000, g * 1000 + 999, str(g)] for g in range(10)],
            "missing": "X",
        },
        "status_in_employment": {"variable": "icse", "codes": {i: str(i) for i in range(1, 7)}},
        "country_of_birth": {
            "variable": "cob",
            "codes": {"THA": "THA", "MMR": "MMR", "KHM": "KHM", "SGP": "SGP"},
            "missing": "X",
        },
        "citizenship": {"variable": "nat", "codes": {764: "THA", 104: "MMR", 116: "KHM", 702: "SGP", 999: "X"}},
        "earnings": {"variable": "earn"},
    },
}
LABELS = {"sex": {1: "Male", 2: "Female", 9: "Not stated"}, "status": {1: "Employed", 2: "Unemployed", 3: "Inactive"}}


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        import pyreadstat

        (pyreadstat.write_dta if path.suffix == ".dta" else pyreadstat.write_sav)(
            frame, str(path), variable_value_labels=LABELS
        )
    return path


def mapping_file(tmp_path: Path, **changes) -> Path:
    spec = {**MAPPING, **changes}
    path = tmp_path / "microdata" / "THA_LFS.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# ------------------------------------------------------------ the hand computation (independent of the package)
ROWS = {  # registry code -> who is in it, written out here from codes.yaml's labels and the standards
    "AGE_AGGREGATE_TOTAL": lambda p: True,
    "AGE_AGGREGATE_Y15-24": lambda p: p.age <= 24,
    "AGE_AGGREGATE_Y25-54": lambda p: 25 <= p.age <= 54,
    "AGE_AGGREGATE_Y55-64": lambda p: 55 <= p.age <= 64,
    "AGE_AGGREGATE_YGE65": lambda p: p.age >= 65,
    "EDU_AGGREGATE_TOTAL": lambda p: True,
    "EDU_AGGREGATE_LTB": lambda p: p.isced == 0,
    "EDU_AGGREGATE_BAS": lambda p: p.isced in (1, 2),
    "EDU_AGGREGATE_INT": lambda p: p.isced in (3, 4),
    "EDU_AGGREGATE_ADV": lambda p: p.isced in (5, 6, 7, 8),
    "EDU_AGGREGATE_X": lambda p: pd.isna(p.isced),
    "ECO_SECTOR_TOTAL": lambda p: True,
    "ECO_SECTOR_AGR": lambda p: p.isic == "A",
    "ECO_SECTOR_NAG": lambda p: p.isic != "A",
    "ECO_SECTOR_IND": lambda p: p.isic in ("B", "C", "D", "E", "F"),
    "ECO_SECTOR_SER": lambda p: p.isic in tuple("GHIJKLMNOPQRSTU"),
    "ECO_SECTOR_X": lambda p: p.isic is None,
    "ECO_AGGREGATE_AGR": lambda p: p.isic == "A",
    "ECO_AGGREGATE_MAN": lambda p: p.isic == "C",
    "ECO_AGGREGATE_CON": lambda p: p.isic == "F",
    "ECO_AGGREGATE_MEL": lambda p: p.isic in ("B", "D", "E"),
    "ECO_AGGREGATE_MKT": lambda p: p.isic in tuple("GHIJKLMN"),
    "ECO_AGGREGATE_PUB": lambda p: p.isic in tuple("OPQRSTU"),
    "ECO_AGGREGATE_X": lambda p: p.isic is None,
    "OCU_SKILL_TOTAL": lambda p: True,
    "OCU_SKILL_L1": lambda p: major(p) == "9",
    "OCU_SKILL_L2": lambda p: major(p) in tuple("45678"),
    "OCU_SKILL_L3-4": lambda p: major(p) in tuple("123"),
    "OCU_SKILL_X": lambda p: major(p) in ("0", "X"),
    **{f"OCU_ISCO08_{g}": (lambda g: lambda p: major(p) == g)(g) for g in "0123456789X"},
    "STE_AGGREGATE_TOTAL": lambda p: True,
    "STE_AGGREGATE_EES": lambda p: p.icse == 1,
    "STE_AGGREGATE_SLF": lambda p: p.icse in (2, 3, 4, 5),
    "STE_AGGREGATE_X": lambda p: p.icse == 6,
    **{f"STE_ICSE93_{k}": (lambda k: lambda p: p.icse == k)(k) for k in range(1, 7)},
    "CUR_TYPE_LCU": lambda p: True,
}
SEXES = {"SEX_T": lambda p: True, "SEX_M": lambda p: p.sex == "M", "SEX_F": lambda p: p.sex == "F"}
STATUS = {
    "CBR_BIR_TOTAL": lambda p: True,
    "CBR_BIR_NATIVE": lambda p: p.birth == "THA",
    "CBR_BIR_FOREIGN": lambda p: p.birth not in (None, "THA"),
    "CBR_BIR_X": lambda p: p.birth is None,
    "CCT_CIT_TOTAL": lambda p: True,
    "CCT_CIT_CITIZEN": lambda p: p.cit == "THA",
    "CCT_CIT_NONCIT": lambda p: p.cit not in (None, "THA"),
    "CCT_CIT_X": lambda p: p.cit is None,
}
WHO = {
    "XWAP": ("EMP", "UNE", "OLF"),
    "TEAP": ("EMP", "UNE"),
    "TEMP": ("EMP",),
    "TUNE": ("UNE",),
    "TEIP": ("OLF",),
    "EARA": ("EMP",),
}


def major(p) -> str:
    return "X" if pd.isna(p.isco) else str(int(p.isco) // 1000)


def hand_cells() -> dict[tuple, tuple[int, float | None]]:
    """(table, sex, classif1, classif2) -> (persons in the sample, weighted value) for every stock cell."""
    people = [p for p in truth().astype(object).where(truth().notna(), None).itertuples() if p.age >= 15]
    out = {}
    for t in (t for t in TABLES.values() if t.family == "stock"):
        measure = t.indicator.split("_")[1]
        for c1 in t.categories:
            for col in t.columns:
                cell = [
                    p
                    for p in people
                    if p.lfs in WHO[measure] and ROWS[c1](p) and SEXES[col.sex](p) and STATUS[col.classif2](p)
                ]
                if measure == "EARA":
                    cell = [p for p in cell if p.icse == 1 and p.earnings is not None]
                    w = sum(p.weight for p in cell)
                    value = round(sum(p.weight * p.earnings for p in cell) / w, 2) if cell else None
                else:
                    value = sum(p.weight for p in cell) / 1000
                out[(t.id, col.sex, c1, col.classif2)] = (len(cell), value)
    return out


def expected_status(n: int) -> str:
    return "x" if 0 < n < THRESHOLDS["suppress_below"] else "U" if 0 < n < THRESHOLDS["unreliable_below"] else ""


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dta", "sav"])
def test_every_cell_of_every_stock_table_is_the_hand_computed_weighted_sum(tmp_path, fmt):
    path = write(survey_frame(), tmp_path / f"THA_LFS_2023.{fmt}")
    tab = tabulate(load_mapping(mapping_file(tmp_path)), path)
    expected = hand_cells()
    assert tab.year == 2023 and tab.persons == 22 and not tab.skipped
    assert len(tab.cells) == len(expected)
    for r in tab.cells.itertuples():
        n, value = expected[(r.table_id, r.sex, r.classif1, r.classif2)]
        where = (r.table_id, r.sex, r.classif1, r.classif2)
        assert r.n_obs == n, where
        if value is None:
            assert pd.isna(r.estimate) and r.obs_status == "", where
            continue
        assert r.estimate == pytest.approx(value, abs=1e-6), where
        assert r.obs_status == expected_status(n), where
        assert pd.isna(r.obs_value) if r.obs_status == "x" else r.obs_value == r.estimate, where
    flags = tab.cells["obs_status"].value_counts().to_dict()
    assert flags["x"] > 0 and flags["U"] > 0  # both thresholds are exercised


def test_thresholds_give_u_and_x_where_expected(tmp_path):
    path = write(survey_frame(), tmp_path / "THA_LFS_2023.parquet")
    tab = tabulate(load_mapping(mapping_file(tmp_path)), path)
    cell = tab.cells.set_index(["table_id", "sex", "classif1", "classif2"])
    # 5 employed non-citizen women: reliable; 1 unemployed man: suppressed; 2 foreign-born self-employed: U
    assert cell.loc[("emp_by_age", "SEX_F", "AGE_AGGREGATE_TOTAL", "CCT_CIT_NONCIT"), "n_obs"] == 5
    assert cell.loc[("emp_by_age", "SEX_F", "AGE_AGGREGATE_TOTAL", "CCT_CIT_NONCIT"), "obs_status"] == ""
    assert cell.loc[("unemp_by_age", "SEX_M", "AGE_AGGREGATE_TOTAL", "CBR_BIR_TOTAL"), "obs_status"] == "x"
    assert cell.loc[("emp_by_status", "SEX_T", "STE_AGGREGATE_SLF", "CBR_BIR_FOREIGN")][
        ["n_obs", "obs_status"]
    ].tolist() == [2, "U"]
    assert cell.loc[("wap_by_age", "SEX_T", "AGE_AGGREGATE_TOTAL", "CBR_BIR_TOTAL"), "obs_status"] == ""
    # stricter thresholds from the mapping file
    strict = tabulate(
        load_mapping(mapping_file(tmp_path, thresholds={"suppress_below": 6, "unreliable_below": 30})), path
    )
    c = strict.cells.set_index(["table_id", "sex", "classif1", "classif2"])
    assert c.loc[("emp_by_age", "SEX_F", "AGE_AGGREGATE_TOTAL", "CCT_CIT_NONCIT"), "obs_status"] == "x"
    assert c.loc[("wap_by_age", "SEX_T", "AGE_AGGREGATE_TOTAL", "CBR_BIR_TOTAL"), "obs_status"] == "U"  # n=22 < 30


def ultimate_cluster_se(people: pd.DataFrame, y: pd.Series) -> float:
    """The textbook estimator, by hand: sum_h n_h/(n_h-1) sum_i (y_hi - mean_h)^2 over every PSU of the stratum."""
    z = y.groupby([people.stratum, people.psu]).sum()
    all_psus = people.groupby(["stratum", "psu"]).size().index
    z = z.reindex(all_psus, fill_value=0.0)
    var = 0.0
    for _, zh in z.groupby(level=0):
        n_h = len(zh)
        if n_h > 1:
            var += n_h / (n_h - 1) * ((zh - zh.mean()) ** 2).sum()
    return math.sqrt(var)


def test_standard_errors_are_the_ultimate_cluster_estimator(tmp_path):
    path = write(survey_frame(), tmp_path / "THA_LFS_2023.parquet")
    tab = tabulate(load_mapping(mapping_file(tmp_path)), path)
    cell = tab.cells.set_index(["table_id", "sex", "classif1", "classif2"])
    people = truth()[truth().age >= 15]
    y = people.weight / 1000
    total = ("wap_by_age", "SEX_T", "AGE_AGGREGATE_TOTAL", "CBR_BIR_TOTAL")
    assert cell.loc[total, "se"] == pytest.approx(ultimate_cluster_se(people, y), abs=1e-6)
    foreign_emp = ("emp_by_activity", "SEX_T", "ECO_SECTOR_TOTAL", "CBR_BIR_FOREIGN")
    mask = (people.lfs == "EMP") & people.birth.notna() & (people.birth != "THA")
    assert cell.loc[foreign_emp, "se"] == pytest.approx(ultimate_cluster_se(people, y.where(mask, 0.0)), abs=1e-6)
    assert cell.loc[foreign_emp, "cv"] == pytest.approx(
        cell.loc[foreign_emp, "se"] / cell.loc[foreign_emp, "estimate"], abs=1e-4
    )
    # the mean of earnings, linearised: u = (w*e - R*w) / X over employees reporting earnings
    emp = (people.lfs == "EMP") & (people.icse == 1) & people.earnings.notna()
    x, ye = people.weight.where(emp, 0.0), (people.weight * people.earnings).where(emp, 0.0)
    ratio = ye.sum() / x.sum()
    mean = ("earnings_employees", "SEX_T", "CUR_TYPE_LCU", "CBR_BIR_TOTAL")
    assert cell.loc[mean, "estimate"] == pytest.approx(round(ratio, 2))
    assert cell.loc[mean, "se"] == pytest.approx(ultimate_cluster_se(people, (ye - ratio * x) / x.sum()), rel=1e-6)
    # a coefficient of variation above max_cv flags U even in a large enough cell
    cv_strict = tabulate(load_mapping(mapping_file(tmp_path, thresholds={**THRESHOLDS, "max_cv": 0.01})), path)
    c = cv_strict.cells.set_index(["table_id", "sex", "classif1", "classif2"])
    assert c.loc[total, "obs_status"] == "U" and cell.loc[total, "cv"] > 0.01


def test_an_unmapped_code_is_an_error_listing_the_codes_with_counts_and_labels(tmp_path):
    frame = survey_frame()
    frame.loc[[0, 3], "sex"] = 9  # labelled "Not stated" in the .dta
    frame.loc[1, "section"] = "Z"  # an employed person
    frame.loc[4, "section"] = "Q"  # outside the labour force: activity not asked, never an error
    path = write(frame, tmp_path / "THA_LFS_2023.dta")
    with pytest.raises(MicrodataError) as raised:
        tabulate(load_mapping(mapping_file(tmp_path)), path)
    text = str(raised.value)
    assert "THA_LFS_2023.dta: 2 problem(s)" in text
    assert "variable 'sex' (sex): 2 records of persons aged 15+ with unmapped codes: 9 'Not stated' (2 records)" in text
    assert (
        "variable 'section' (economic_activity): 1 records of employed persons with unmapped codes: 'Z' (1 records)"
        in text
    )
    assert "THA_LFS.yaml under variables.economic_activity.codes" in text


def test_missing_variables_unreadable_files_and_bad_mappings_are_named(tmp_path):
    path = write(survey_frame().drop(columns=["nat"]), tmp_path / "THA_LFS_2023.sav")
    with pytest.raises(MicrodataError, match=r"variable 'nat' \(citizenship\) is not in the file"):
        tabulate(load_mapping(mapping_file(tmp_path)), path)
    bad = tmp_path / "THA_LFS_2022.dta"
    bad.write_bytes(b"this is no Stata file")
    with pytest.raises(MicrodataError, match=r"THA_LFS_2022.dta: 1 problem\(s\)\n  - not a readable Stata file"):
        tabulate(load_mapping(mapping_file(tmp_path)), bad)
    variables = {**MAPPING["variables"], "education": {"variable": "educ", "codes": {1: "ISCED1"}}}
    variables.pop("sex")
    with pytest.raises(MicrodataError) as raised:
        load_mapping(mapping_file(tmp_path, variables=variables))
    assert "variables.sex: missing" in str(raised.value)
    assert "variables.education.codes[1]: 'ISCED1' is not a ISCED-11 level" in str(raised.value)
    no_weight = tmp_path / "THA_LFS_2021.csv"
    write(survey_frame().assign(wgt=lambda f: f.wgt.where(f.index != 5)), no_weight)
    with pytest.raises(MicrodataError, match="weight 'wgt': missing, zero or negative for 1 records"):
        tabulate(load_mapping(mapping_file(tmp_path)), no_weight)


def test_a_table_whose_variable_is_not_mapped_is_skipped_not_guessed(tmp_path):
    variables = {k: v for k, v in MAPPING["variables"].items() if k not in ("occupation", "earnings")}
    path = write(survey_frame(), tmp_path / "THA_LFS_2023.csv")
    tab = tabulate(load_mapping(mapping_file(tmp_path, variables=variables)), path)
    assert set(tab.skipped) == {"emp_by_occupation", "earnings_employees"}
    assert "emp_by_occupation" not in tab.tables and "emp_by_activity" in tab.tables


def test_identities_hold_exactly_and_output_is_byte_identical_on_synthetic_data(tmp_path):
    frame = synthetic_lfs("MYS", 30_000, seed=3)
    path = write_survey(frame, tmp_path / "MYS_LFS_2023.parquet")
    mapping = tmp_path / "MYS_LFS.yaml"
    mapping.write_text(yaml.safe_dump(mapping_spec("MYS"), sort_keys=False))
    tab = tabulate(load_mapping(mapping), path)
    assert tab.cells.loc[0, "estimate"] == pytest.approx(frame.loc[frame.age >= 15, "wgt"].sum() / 1000, abs=0.01)
    est = {(r.table_id, r.sex, r.classif1, r.classif2): r.estimate for r in tab.cells.itertuples()}
    checked = 0
    for identity in IDENTITIES:
        dim = {"sex": 1, "classif1": 2, "classif2": 3}[identity.dimension]
        groups = defaultdict(dict)
        for key, value in est.items():
            if key[0] != "earnings_employees":
                groups[key[:dim] + key[dim + 1 :]][key[dim]] = value
        for values in groups.values():
            if identity.total in values:
                parts = sum(sign * values[code] for code, sign in identity.parts)
                assert values[identity.total] == pytest.approx(parts, abs=1e-6), identity
                checked += 1
    assert checked > 1000
    first = write_outputs([tab], "2024", tmp_path / "a" / "MYS.xlsx")[0]
    again = write_outputs([tabulate(load_mapping(mapping), path)], "2024", tmp_path / "b" / "MYS.xlsx")[0]
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(again.read_bytes()).digest()
    assert np.isclose(
        tab.cells.query(
            "table_id == 'wap_by_age' and sex == 'SEX_T' and classif2 == 'CCT_CIT_NONCIT'"
            " and classif1 == 'AGE_AGGREGATE_TOTAL'"
        ).estimate.iloc[0]
        / tab.cells.loc[0, "estimate"],
        0.12 * 0.9 * 0.93 * 0.9,
        rtol=0.25,
    )  # the profile's magnitude


def test_secondary_suppression_leaves_no_identity_with_a_single_hidden_cell(tmp_path):
    from ilms_dagster.microdata.suppression import _groups

    path = write(survey_frame(), tmp_path / "THA_LFS_2023.parquet")
    primary = tabulate(load_mapping(mapping_file(tmp_path)), path).cells
    cells = tabulate(load_mapping(mapping_file(tmp_path, secondary_suppression=True)), path).cells
    assert (cells.suppression == "primary").sum() == (primary.obs_status == "x").sum()
    assert (cells.obs_status == "x").sum() == (cells.suppression != "").sum()
    second = cells[cells.suppression == "secondary"]
    assert len(second) > 0 and (second.n_obs >= THRESHOLDS["suppress_below"]).all() and second.obs_value.isna().all()
    keys = list(zip(cells.table_id, cells.sex, cells.classif1, cells.classif2))
    hidden = {k: s == "x" and n > 0 for k, s, n in zip(keys, cells.obs_status, cells.n_obs)}
    groups = _groups(keys)
    assert len(groups) > 500
    assert all(sum(hidden[t] for t in terms) != 1 for terms in groups)
    # unsuppressed cells keep their values and flags
    kept = cells.suppression != "secondary"
    assert cells[kept].obs_status.tolist() == primary[kept.values].obs_status.tolist()


def test_a_stata_file_read_in_small_chunks_gives_the_same_cells(tmp_path, monkeypatch):
    """pyreadstat's chunks (here 5 rows: some without any missing value in a column) into one DuckDB table."""
    from ilms_dagster.microdata import readers

    monkeypatch.setattr(readers, "CHUNK_ROWS", 5)
    chunked = tabulate(load_mapping(mapping_file(tmp_path)), write(survey_frame(), tmp_path / "THA_LFS_2023.dta")).cells
    whole = tabulate(
        load_mapping(mapping_file(tmp_path)), write(survey_frame(), tmp_path / "THA_LFS_2023.parquet")
    ).cells
    pd.testing.assert_frame_equal(chunked, whole)
