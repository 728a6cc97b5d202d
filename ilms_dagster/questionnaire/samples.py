"""Deterministic, realistic sample ILMQ submissions for the ten ASEAN countries, rounds 2015-2024.

A hidden "true" series per country and reference year (seeded by country and year, never by Python's
salted hash) drives every table, built bottom-up in whole persons so that every identity real data
satisfy holds exactly: SEX_T = M + F, TOTAL = categories + X, TOTAL = NATIVE + FOREIGN + X,
wap = lf + olf, lf = emp + unemp. Each round reports the years of its window with a small revision
per round; a few submissions carry DELIBERATE_MISTAKES for the validation work (never the latest round).
"""

from __future__ import annotations

import random
from datetime import timedelta
from functools import cache
from pathlib import Path

import yaml

from ilms_dagster.questionnaire.sample_mistakes import DELIBERATE_MISTAKES, inject
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import CONFIDENTIAL, NOT_AVAILABLE
from ilms_dagster.registry import (
    MIGRATORY_STATUS,
    REPORTING_COUNTRIES,
    ROUNDS,
    TABLES,
    deadline,
    reference_years,
)

PROFILES: dict[str, dict] = yaml.safe_load((Path(__file__).parent / "sample_profiles.yaml").read_text())

# Aggregate categories as sums of leaf categories; the first category of a list (TOTAL) is the sum of all leaves.
AGGREGATES: dict[str, dict[str, list[str]]] = {
    "economic_activity": {
        "ECO_SECTOR_AGR": ["ECO_AGGREGATE_AGR"],
        "ECO_SECTOR_NAG": [f"ECO_AGGREGATE_{c}" for c in ("MAN", "CON", "MEL", "MKT", "PUB", "X")],
        "ECO_SECTOR_IND": ["ECO_AGGREGATE_MAN", "ECO_AGGREGATE_CON", "ECO_AGGREGATE_MEL"],
        "ECO_SECTOR_SER": ["ECO_AGGREGATE_MKT", "ECO_AGGREGATE_PUB"],
        "ECO_SECTOR_X": ["ECO_AGGREGATE_X"],
    },
    "occupation": {
        "OCU_SKILL_L1": ["OCU_ISCO08_9"],
        "OCU_SKILL_L2": [f"OCU_ISCO08_{d}" for d in "45678"],
        "OCU_SKILL_L3-4": [f"OCU_ISCO08_{d}" for d in "123"],
        "OCU_SKILL_X": ["OCU_ISCO08_0", "OCU_ISCO08_X"],
    },
    "status_in_employment": {
        "STE_AGGREGATE_EES": ["STE_ICSE93_1"],
        "STE_AGGREGATE_SLF": [f"STE_ICSE93_{d}" for d in "2345"],
        "STE_AGGREGATE_X": ["STE_ICSE93_6"],
    },
}

# Leaf weights (natives, migrants). Migrants work more in agriculture, construction, manufacturing and
# elementary occupations, are more often employees, and are younger.
LEAF_WEIGHTS: dict[str, dict[str, tuple[float, float]]] = {
    "age": {
        "AGE_AGGREGATE_Y15-24": (0.17, 0.2),
        "AGE_AGGREGATE_Y25-54": (0.58, 0.72),
        "AGE_AGGREGATE_Y55-64": (0.15, 0.06),
        "AGE_AGGREGATE_YGE65": (0.1, 0.02),
    },
    "education": {
        "EDU_AGGREGATE_LTB": (0.15, 0.3),
        "EDU_AGGREGATE_BAS": (0.35, 0.4),
        "EDU_AGGREGATE_INT": (0.35, 0.2),
        "EDU_AGGREGATE_ADV": (0.14, 0.08),
        "EDU_AGGREGATE_X": (0.01, 0.02),
    },
    "economic_activity": {
        "ECO_AGGREGATE_AGR": (0.3, 0.35),
        "ECO_AGGREGATE_MAN": (0.16, 0.25),
        "ECO_AGGREGATE_CON": (0.07, 0.18),
        "ECO_AGGREGATE_MEL": (0.02, 0.01),
        "ECO_AGGREGATE_MKT": (0.3, 0.17),
        "ECO_AGGREGATE_PUB": (0.14, 0.03),
        "ECO_AGGREGATE_X": (0.01, 0.01),
    },
    "occupation": {
        "OCU_ISCO08_1": (0.03, 0.02),
        "OCU_ISCO08_2": (0.06, 0.03),
        "OCU_ISCO08_3": (0.05, 0.02),
        "OCU_ISCO08_4": (0.04, 0.01),
        "OCU_ISCO08_5": (0.18, 0.12),
        "OCU_ISCO08_6": (0.25, 0.1),
        "OCU_ISCO08_7": (0.12, 0.17),
        "OCU_ISCO08_8": (0.08, 0.1),
        "OCU_ISCO08_9": (0.18, 0.43),
        "OCU_ISCO08_0": (0.005, 0.0),
        "OCU_ISCO08_X": (0.005, 0.0),
    },
    "status_in_employment": {
        "STE_ICSE93_1": (0.5, 0.85),
        "STE_ICSE93_2": (0.02, 0.01),
        "STE_ICSE93_3": (0.32, 0.1),
        "STE_ICSE93_4": (0.002, 0.0),
        "STE_ICSE93_5": (0.15, 0.04),
        "STE_ICSE93_6": (0.008, 0.0),
    },
}

STOCK_QUANTITIES = {  # table prefix -> how the quantity is made of emp, unemp, olf
    "wap": ("emp", "unemp", "olf"),
    "lf": ("emp", "unemp"),
    "emp": ("emp",),
    "unemp": ("unemp",),
    "olf": ("olf",),
}
FLOW_SOURCE = {"inflow": "inflow", "outflow": "outflow", "returns": "returns", "nationals": "abroad"}


def _rng(*parts: object) -> random.Random:
    return random.Random("-".join(str(p) for p in parts))


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Split a whole number by weights so that the parts add up exactly (largest remainder)."""
    mass = sum(weights)
    if total == 0 or mass == 0:
        return [0] * len(weights)
    raw = [total * w / mass for w in weights]
    parts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _jitter(rng: random.Random, weights: list[float], spread: float = 0.15) -> list[float]:
    return [w * (1 + rng.uniform(-spread, spread)) for w in weights]


def _leaves(classification: str) -> list[str]:
    codes = list(TABLES_BY_CLASSIFICATION[classification].categories)
    return [c for c in codes[1:] if c not in AGGREGATES.get(classification, {})]


TABLES_BY_CLASSIFICATION = {t.classification: t for t in TABLES.values()}


def _expand(classification: str, leaf_values: dict[str, int]) -> dict[str, int]:
    """Leaf values -> every category of the classification (aggregates and the TOTAL as exact sums)."""
    total_code = next(iter(TABLES_BY_CLASSIFICATION[classification].categories))
    out = dict(leaf_values)
    for code, parts in AGGREGATES.get(classification, {}).items():
        out[code] = sum(leaf_values[p] for p in parts)
    out[total_code] = sum(leaf_values.values())
    return out


@cache
def _truth(country: str, year: int, round_: str) -> dict:
    """Whole-person levels of one country and reference year, as reported in one round."""
    p = PROFILES[country]
    rng = _rng(country, year)
    level = (1 + p["growth"]) ** (year - 2015) * (1 + rng.uniform(-0.015, 0.015))
    if p.get("revises") and int(round_) > year + 1:  # later vintages revise the first estimate
        level *= 1 + _rng(country, year, round_).uniform(-1, 1) * p["revises"]
    return {"level": level, "rng_seed": f"{country}-{year}"}


def _stock_leaves(country: str, year: int, round_: str, basis: str) -> dict:
    """{quantity: {status leaf: {sex: whole persons}}} for emp, unemp, olf. Citizenship is derived from
    place of birth (a tenth of the foreign-born are citizens), so both bases share their totals."""
    p = PROFILES[country]
    level = _truth(country, year, round_)["level"]
    rng = _rng(country, year, "CBR")
    wap = round(p["wap"] * 1000 * level)
    statuses = list(MIGRATORY_STATUS["CBR"])[1:]  # NATIVE, FOREIGN, X
    shares = [1 - p["foreign"] - p["not_stated"], p["foreign"], p["not_stated"]]
    out: dict[str, dict[str, dict[str, int]]] = {"emp": {}, "unemp": {}, "olf": {}}
    for status, pop in zip(statuses, _allocate(wap, shares), strict=True):
        migrant = status.endswith("FOREIGN")
        male, female = _allocate(pop, [0.6, 0.4] if migrant else [0.49, 0.51])
        for sex, n in (("SEX_M", male), ("SEX_F", female)):
            lfpr = {True: {"SEX_M": 0.88, "SEX_F": 0.62}, False: {"SEX_M": p["lfpr"] + 0.1, "SEX_F": p["lfpr"] - 0.1}}
            rate = min(0.97, lfpr[migrant][sex] * (1 + rng.uniform(-0.02, 0.02)))
            ur = p["ur"] * (0.8 if migrant else 1.0) * (1 + rng.uniform(-0.1, 0.1))
            emp, unemp, olf = _allocate(n, [rate * (1 - ur), rate * ur, 1 - rate])
            out["emp"].setdefault(status, {})[sex] = emp
            out["unemp"].setdefault(status, {})[sex] = unemp
            out["olf"].setdefault(status, {})[sex] = olf
    if basis == "CCT":
        for by_status in out.values():
            native, foreign, unknown = (by_status.pop(s) for s in statuses)
            noncit = {sex: round(n * 0.9) for sex, n in foreign.items()}
            by_status["CCT_CIT_CITIZEN"] = {sex: native[sex] + foreign[sex] - noncit[sex] for sex in native}
            by_status["CCT_CIT_NONCIT"], by_status["CCT_CIT_X"] = noncit, unknown
    return out


def _split(total: int, classification: str, migrant: bool, rng: random.Random) -> dict[str, int]:
    leaves = _leaves(classification)
    weights = _jitter(rng, [LEAF_WEIGHTS[classification][c][migrant] for c in leaves])
    return dict(zip(leaves, _allocate(total, weights), strict=True))


def _stock_table(country: str, year: int, round_: str, table_id: str, values: dict) -> None:
    table = TABLES[table_id]
    prefix = table_id.split("_by_")[0]
    for basis in _bases(table.id, country):
        leaves = _stock_leaves(country, year, round_, basis)
        # cells[status][sex][category], built from leaf statuses and sexes, then summed up
        cells: dict[str, dict[str, dict[str, int]]] = {}
        for status in list(MIGRATORY_STATUS[basis])[1:]:
            migrant = status.endswith(("FOREIGN", "NONCIT"))
            for sex in ("SEX_M", "SEX_F"):
                # a quantity's split depends on the classification, not the table: lf_by_age = emp + unemp by age
                parts = [
                    _split(
                        leaves[q][status][sex],
                        table.classification,
                        migrant,
                        _rng(country, year, basis, table.classification, q, status, sex),
                    )
                    for q in STOCK_QUANTITIES[prefix]
                ]
                leaf_values = {c: sum(part[c] for part in parts) for c in parts[0]}
                cells.setdefault(status, {})[sex] = _expand(table.classification, leaf_values)
        _sum_up(cells, basis)
        for status, by_sex in cells.items():
            for sex, by_cat in by_sex.items():
                for code, persons in by_cat.items():
                    values[(table_id, year, code, sex, status)] = persons / 1000


def _bases(table_id: str, country: str) -> list[str]:
    """The table's migratory bases the country reports, in registry order (never a set's order: random
    numbers are drawn in this order, and a set of strings iterates differently in every process)."""
    return [b for b in TABLES[table_id].bases if b in PROFILES[country]["bases"]]


def _sum_up(cells: dict, basis: str) -> None:
    """Add SEX_T = M + F to every status, and the TOTAL status = sum of the others."""
    for by_sex in cells.values():
        by_sex["SEX_T"] = {c: by_sex["SEX_M"][c] + by_sex["SEX_F"][c] for c in by_sex["SEX_M"]}
    total_status = next(iter(MIGRATORY_STATUS[basis]))
    statuses = list(cells)
    cells[total_status] = {
        sex: {c: sum(cells[s][sex][c] for s in statuses) for c in cells[statuses[0]][sex]}
        for sex in ("SEX_M", "SEX_F", "SEX_T")
    }


def _earnings(country: str, year: int, round_: str, values: dict) -> None:
    p = PROFILES[country]
    level = _truth(country, year, round_)["level"] * (1.03 ** (year - 2015))
    rng = _rng(country, year, "earnings")
    for basis in _bases("earnings_employees", country):
        for status in MIGRATORY_STATUS[basis]:
            gap = 0.78 if status.endswith(("FOREIGN", "NONCIT")) else 1.0
            for sex, factor in (("SEX_T", 1.0), ("SEX_M", 1.07), ("SEX_F", 0.9)):
                amount = p["earnings"] * level * gap * factor * (1 + rng.uniform(-0.02, 0.02))
                values[("earnings_employees", year, "CUR_TYPE_LCU", sex, status)] = float(round(amount))


def _flow_table(country: str, year: int, round_: str, table_id: str, values: dict) -> None:
    p = PROFILES[country]
    table = TABLES[table_id]
    source = FLOW_SOURCE[table_id.split("_")[0]]
    base = {
        "inflow": p.get("inflow"),
        "outflow": p.get("outflow"),
        "abroad": p.get("abroad"),
        "returns": (p.get("outflow") or 0) * p.get("returns", 0),
    }[source]
    if not base:
        return
    rng = _rng(country, year, table_id)  # the split varies by table; the total is the source's, in every table
    persons = round(
        base * 1000 * _truth(country, year, round_)["level"] * (1 + _rng(country, year, source).uniform(-0.08, 0.08))
    )
    female = p["female_share"]
    by_sex = dict(zip(("SEX_M", "SEX_F"), _allocate(persons, [1 - female, female]), strict=True))
    cells: dict[str, dict[str, int]] = {}
    for sex, n in by_sex.items():
        if table.classification in LEAF_WEIGHTS:
            cells[sex] = _expand(table.classification, _split(n, table.classification, True, _rng(rng.random())))
        else:  # partner countries: listed partners, the rest in <prefix>_X
            partners = p["origins"] if source == "inflow" else p["destinations"]
            prefix = next(iter(table.categories)).rsplit("_", 1)[0]
            codes = [f"{prefix}_{iso}" for iso in partners] + [f"{prefix}_X"]
            weights = _jitter(_rng(rng.random()), list(partners.values())) + [max(0.02, 1 - sum(partners.values()))]
            leaf_values = dict(zip(codes, _allocate(n, weights), strict=True))
            cells[sex] = leaf_values | {f"{prefix}_TOTAL": n}
    cells["SEX_T"] = {c: cells["SEX_M"][c] + cells["SEX_F"][c] for c in cells["SEX_M"]}
    for sex, by_cat in cells.items():
        for code, n in by_cat.items():
            values[(table_id, year, code, sex, None)] = n / 1000


def _reported(country: str, table_id: str, year: int) -> bool:
    p = PROFILES[country]
    if table_id not in p["tables"]:
        return False
    return TABLES[table_id].family != "stock" or year in p.get("stock_years", [year])


def sample_values(country: str, round_: str | int) -> tuple[dict, dict]:
    """The (values, metadata) of one sample submission; values are keyed like `write_workbook` expects."""
    round_ = str(round_)
    p = PROFILES[country]
    values: dict[tuple, float | str] = {}
    for year in reference_years(round_):
        for table_id in p["tables"]:
            if not _reported(country, table_id, year):
                continue
            if table_id == "earnings_employees":
                _earnings(country, year, round_, values)
            elif TABLES[table_id].family == "stock":
                _stock_table(country, year, round_, table_id, values)
            else:
                _flow_table(country, year, round_, table_id, values)
    values = {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}
    _restrict(country, values)
    for mistake in DELIBERATE_MISTAKES:
        if (mistake.round, mistake.country) == (round_, country):
            inject(mistake, values)
    submitted = deadline(round_) + timedelta(days=p.get("late_days", 0) + _rng(country, round_).randint(-25, 25))
    metadata = {
        "focal_point": f"ILMQ focal point {country}",
        "institution": "National Statistical Office" if "wap_by_age" in p["tables"] else "Ministry of Labour",
        "email": f"ilmq@{country.lower()}.example.org",
        "source_stocks": "BA:Labour Force Survey",
        "source_flows": "ADM:Overseas employment and work permit registers",
        "submission_date": submitted.isoformat(),
    }
    return values, metadata


def _restrict(country: str, values: dict) -> None:
    """Totals-only and both-sexes-only series, and confidential small cells, as countries publish them."""
    p = PROFILES[country]
    for key in list(values):
        table_id, _, code, sex, _ = key
        if table_id in p.get("totals_only", []) and code != TABLES[table_id].total_category:
            del values[key]
        elif table_id in p.get("sex_total_only", []) and sex != "SEX_T":
            del values[key]
        elif table_id in p.get("confidential_tables", []) and 0 < values[key] < p["confidential_below"]:
            values[key] = CONFIDENTIAL
    if country == "MMR":  # earnings by sex were not available from the survey
        for key in [k for k in values if k[0] == "earnings_employees" and k[3] != "SEX_T"]:
            values[key] = NOT_AVAILABLE


def sample_path(out_dir: Path, country: str, round_: str | int) -> Path:
    return Path(out_dir) / str(round_) / f"{country}_ILMQ_{round_}.xlsx"


def write_sample(out_dir: Path, country: str, round_: str | int) -> Path:
    values, metadata = sample_values(country, round_)
    return write_workbook(sample_path(out_dir, country, round_), country, round_, values=values, metadata=metadata)


def ensure_samples(out_dir: Path, rounds=None, countries=None) -> list[Path]:
    """Write the sample files that are missing (existing ones are deterministic, hence already right)."""
    paths = []
    for round_ in rounds or ROUNDS:
        for country in countries or REPORTING_COUNTRIES:
            path = sample_path(out_dir, country, round_)
            if not path.exists() and country in PROFILES:
                write_sample(out_dir, country, round_)
            if path.exists():
                paths.append(path)
    return paths
