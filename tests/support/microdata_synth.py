"""Synthetic labour force survey (LFS) microdata for tests and benchmarks (a harness: not part of the package).

The structure of a real LFS file: strata, primary sampling units (PSUs, ~12 households each), households of
1-8 persons sharing a weight, children under 15 (no labour items), and person records coded the way national
offices code them (numeric codes with value labels, ISIC rev.4 sections as 1-21, ISCO-08 as 4-digit codes,
ISO 3166 numeric country codes, 98/99 for 'don't know'). Magnitudes follow the country profiles of the sample
submissions (ilms_dagster/sample_profiles.yaml, after published ILOSTAT figures): weights sum to the national
population (working-age population / 0.78), the foreign-born share, participation and unemployment rates and
mean earnings of employees are the country's; migrants come from the profile's origins and work more in
agriculture, manufacturing and construction.

    uv run python tests/support/microdata_synth.py --country THA --persons 200000 --out data/microdata/2024/THA_LFS_2023.dta

writes the file (format from the extension: .dta, .sav, .parquet, .csv) and, with --mapping, the matching
mapping file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ilms_dagster.questionnaire.samples import PROFILES

ISO_NUMERIC = {
    "BRN": 96,
    "KHM": 116,
    "IDN": 360,
    "LAO": 418,
    "MYS": 458,
    "MMR": 104,
    "PHL": 608,
    "SGP": 702,
    "THA": 764,
    "VNM": 704,
    "CHN": 156,
    "HKG": 344,
    "TWN": 158,
    "JPN": 392,
    "KOR": 410,
    "IND": 356,
    "BGD": 50,
    "NPL": 524,
    "SAU": 682,
    "ARE": 784,
    "QAT": 634,
    "KWT": 414,
    "USA": 840,
    "AUS": 36,
    "GBR": 826,
}
OTHER_COUNTRY = 900  # "other country" in the survey's own list
VALUE_LABELS = {
    "sex": {1: "Male", 2: "Female"},
    "ilo_status": {1: "Employed", 2: "Unemployed", 3: "Outside the labour force"},
    "educ": {
        0: "No schooling / pre-primary",
        1: "Primary",
        2: "Lower secondary",
        3: "Upper secondary",
        4: "Post-secondary non-tertiary",
        5: "Short-cycle tertiary",
        6: "Bachelor",
        7: "Master",
        8: "Doctoral",
        99: "Don't know",
    },
    "isic_section": {i + 1: f"Section {s}" for i, s in enumerate("ABCDEFGHIJKLMNOPQRSTU")} | {99: "Not classifiable"},
    "icse": {
        1: "Employee",
        2: "Employer",
        3: "Own-account worker",
        4: "Member of producers' cooperative",
        5: "Contributing family worker",
        6: "Not classifiable",
    },
    "birth_country": {v: k for k, v in ISO_NUMERIC.items()} | {OTHER_COUNTRY: "Other country", 999: "Not stated"},
    "citizenship": {v: k for k, v in ISO_NUMERIC.items()} | {OTHER_COUNTRY: "Other country", 999: "Not stated"},
}
# Sector shares (ISIC sections A..U) of native and migrant workers: agriculture, manufacturing, construction.
_SECTIONS = np.array(list("ABCDEFGHIJKLMNOPQRSTU"))
_NATIVE_SECTORS = np.array([30, 0.5, 16, 0.5, 0.5, 6, 16, 4, 6, 1, 1.5, 0.5, 1, 2, 4, 4, 3, 1, 2, 1, 0.1])
_MIGRANT_SECTORS = np.array([28, 0.3, 24, 0.1, 0.3, 16, 10, 2, 8, 0.3, 0.2, 0.2, 0.3, 3, 0.2, 0.3, 0.5, 0.2, 1, 5, 0.1])


def synthetic_lfs(country: str = "THA", persons: int = 100_000, seed: int = 0, strata: int = 40) -> pd.DataFrame:
    """About `persons` person records of a synthetic LFS of `country` (whole households, so a few more)."""
    rng = np.random.default_rng(seed)
    p = PROFILES[country]
    population = p["wap"] * 1000 / 0.78
    households = int(persons / 3.6) + 1
    size = np.minimum(rng.poisson(2.6, households) + 1, 8)
    n = int(size.sum())
    hh = np.repeat(np.arange(households, dtype=np.int32), size)
    psu_of_hh = np.arange(households, dtype=np.int32) // 12
    stratum_of_psu = rng.integers(1, strata + 1, psu_of_hh[-1] + 1).astype(np.int16)
    # design weight per PSU (varying by stratum), calibrated so the weights sum to the population
    base = rng.uniform(0.6, 1.4, strata + 1)[stratum_of_psu] * rng.uniform(0.9, 1.1, psu_of_hh[-1] + 1)
    hh_weight = base[psu_of_hh] * rng.uniform(0.95, 1.05, households)
    weight = hh_weight[hh]
    weight *= population / weight.sum()
    migrant_hh = rng.random(households) < p["foreign"] * 0.9
    migrant = migrant_hh[hh] & (rng.random(n) < 0.93)
    age = np.where(rng.random(n) < 0.22, rng.integers(0, 15, n), np.minimum(15 + rng.gamma(2.2, 14, n), 95)).astype(
        np.int16
    )
    age = np.where(migrant & (age >= 15), np.minimum(age, 18 + rng.gamma(3, 7, n)), age).astype(np.int16)
    sex = np.where(rng.random(n) < np.where(migrant, 0.55, 0.49), 1, 2).astype(np.int8)
    adult = age >= 15
    # labour force status: participation from the profile, higher for migrants and prime-age men, low after 64
    lfpr = p["lfpr"] * np.where(sex == 1, 1.12, 0.88) * np.where(migrant, 1.15, 1.0)
    lfpr = np.clip(lfpr * np.where(age < 25, 0.7, np.where(age >= 65, 0.35, 1.1)), 0, 0.98)
    active = adult & (rng.random(n) < lfpr)
    unemployed = active & (rng.random(n) < p["ur"] * np.where(age < 25, 2.0, 1.0))
    status = np.where(~adult, 0, np.where(unemployed, 2, np.where(active, 1, 3))).astype(np.int8)
    educ = np.clip(np.round(rng.normal(np.where(migrant, 2.0, 3.0), 1.6, n)), 0, 8).astype(np.int8)
    educ = np.where(rng.random(n) < 0.01, 99, educ).astype(np.int8)
    employed = status == 1
    section = (
        np.where(
            migrant,
            rng.choice(21, n, p=_MIGRANT_SECTORS / _MIGRANT_SECTORS.sum()),
            rng.choice(21, n, p=_NATIVE_SECTORS / _NATIVE_SECTORS.sum()),
        )
        + 1
    )
    section = np.where(rng.random(n) < 0.005, 99, section)
    isic = np.where(employed, section, 0).astype(np.int8)
    major = np.where(
        section == 1, 6, rng.choice(10, n, p=[0.005, 0.04, 0.08, 0.08, 0.06, 0.17, 0.08, 0.14, 0.12, 0.225])
    )
    major = np.where(migrant & (rng.random(n) < 0.5), 9, major)
    isco = np.where(employed, major * 1000 + rng.integers(100, 999, n), -1).astype(np.int32)
    icse = np.where(employed, rng.choice([1, 2, 3, 4, 5, 6], n, p=[0.5, 0.03, 0.3, 0.005, 0.16, 0.005]), 0).astype(
        np.int8
    )
    icse = np.where(employed & migrant & (rng.random(n) < 0.5), 1, icse).astype(np.int8)
    origins = p.get("origins") or {"THA": 0.4, "VNM": 0.3, "CHN": 0.3}
    names = [c for c in origins if c != country]
    shares = np.array([origins[c] for c in names])
    origin = np.array([ISO_NUMERIC[c] for c in names] + [OTHER_COUNTRY])[
        rng.choice(len(names) + 1, n, p=np.append(shares, max(0.05, 1 - shares.sum())) / max(1.0, shares.sum() + 0.05))
    ]
    birth = np.where(migrant, origin, ISO_NUMERIC[country])
    naturalised = migrant & (rng.random(n) < 0.1)
    citizenship = np.where(migrant & ~naturalised, birth, ISO_NUMERIC[country])
    birth = np.where(rng.random(n) < p["not_stated"], 999, birth).astype(np.int16)
    citizenship = np.where(rng.random(n) < p["not_stated"], 999, citizenship).astype(np.int16)
    employee = employed & (icse == 1)
    earnings = np.where(employee, p["earnings"] * rng.lognormal(-0.18, 0.6, n) * np.where(migrant, 0.7, 1.0), np.nan)
    earnings = np.where(employee & (rng.random(n) < 0.05), np.nan, np.round(earnings, 0))  # 5% item non-response
    hours = np.where(employed, np.clip(rng.normal(44, 10, n), 1, 98).round(), np.nan)
    frame = pd.DataFrame(
        {
            "hhid": hh + 1,
            "stratum": stratum_of_psu[psu_of_hh][hh],
            "psu": psu_of_hh[hh] + 1,
            "wgt": weight,
            "sex": sex,
            "age": age,
            "ilo_status": status,
            "educ": np.where(adult, educ, 99),
            "isic_section": isic,
            "isco08": isco,
            "icse": icse,
            "birth_country": birth,
            "citizenship": citizenship,
            "earnings": earnings,
            "hours": hours,
        }
    )
    for col in ("ilo_status", "isic_section", "icse"):  # not asked of children / of persons not employed
        frame[col] = frame[col].where(frame[col] > 0)
    frame["isco08"] = frame["isco08"].where(frame["isco08"] > 0)
    return frame


def mapping_spec(country: str, survey: str = "LFS", design: bool = True) -> dict:
    """The mapping file of the synthetic survey, as a dict (yaml.safe_dump it to write the file)."""
    iso = {code: iso3 for iso3, code in ISO_NUMERIC.items()}

    def countries() -> dict:  # a new dict each time (no YAML anchors in the written file)
        return {"codes": iso | {999: "X"}, "other": "FOREIGN"}

    isco = [[g * 1000, g * 1000 + 999, str(g)] for g in range(10)]
    spec = {
        "country": country,
        "survey": survey,
        "source": f"BA:Synthetic {survey} ({country})",
        "design": {"weight": "wgt"} | ({"strata": "stratum", "psu": "psu"} if design else {}),
        "variables": {
            "sex": {"variable": "sex", "codes": {1: "M", 2: "F"}},
            "age": {"variable": "age"},
            "labour_force_status": {"variable": "ilo_status", "codes": {1: "EMP", 2: "UNE", 3: "OLF"}},
            "education": {"variable": "educ", "codes": {i: str(i) for i in range(9)} | {99: "X"}},
            "economic_activity": {
                "variable": "isic_section",
                "codes": {i + 1: s for i, s in enumerate("ABCDEFGHIJKLMNOPQRSTU")} | {99: "X"},
            },
            "occupation": {"variable": "isco08", "ranges": isco},
            "status_in_employment": {"variable": "icse", "codes": {i: str(i) for i in range(1, 7)}},
            "country_of_birth": {"variable": "birth_country"} | countries(),
            "citizenship": {"variable": "citizenship"} | countries(),
            "earnings": {"variable": "earnings"},
            "hours": {"variable": "hours"},
        },
    }
    return spec


def write_survey(frame: pd.DataFrame, path: Path) -> Path:
    """Write the frame as .dta / .sav (with value labels, by pyreadstat), .parquet or .csv."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".dta", ".sav"):
        import pyreadstat

        labels = {k: v for k, v in VALUE_LABELS.items() if k in frame.columns}
        out = frame.astype(
            {c: "float64" for c in frame.columns if frame[c].dtype.kind in "iu" and frame[c].isna().any()}
        )
        write = pyreadstat.write_dta if suffix == ".dta" else pyreadstat.write_sav
        write(out, str(path), variable_value_labels=labels)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        raise ValueError(f"unknown format {suffix}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--country", default="THA")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="<ISO3>_<SURVEY>_<YEAR>.{dta,sav,parquet,csv}")
    parser.add_argument("--mapping", type=Path, help="also write the mapping file here")
    args = parser.parse_args()
    frame = synthetic_lfs(args.country, args.persons, args.seed)
    write_survey(frame, args.out)
    print(f"Wrote {args.out}: {len(frame):,} persons, weights sum to {frame['wgt'].sum():,.0f}")
    if args.mapping:
        args.mapping.parent.mkdir(parents=True, exist_ok=True)
        args.mapping.write_text(yaml.safe_dump(mapping_spec(args.country), sort_keys=False))
        print(f"Wrote {args.mapping}")


if __name__ == "__main__":
    main()
