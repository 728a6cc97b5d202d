"""The concepts a survey is mapped to (concepts.yaml) and the cube dimensions they become, from the registry.

Every dimension of the tabulation has *leaves* (the detailed categories one person falls in, e.g. the
ECO_AGGREGATE_* codes, SEX_M/SEX_F, CBR_BIR_NATIVE/FOREIGN/X) and *members*: for each registry code, the
leaves it sums (ECO_SECTOR_NAG = every ECO_AGGREGATE_* but AGR). Leaves and members are derived from the
registry's code lists and sum identities (codes.yaml), never listed per table, so every total is the sum
of its parts by construction and a new category or identity in the registry changes the tabulation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from ilms_dagster.registry import CLASSIFICATIONS, IDENTITIES, MIGRATORY_STATUS, SEX, TABLES, TableSpec

_SPEC = yaml.safe_load((Path(__file__).parent / "concepts.yaml").read_text())
CONCEPTS: dict[str, dict] = _SPEC["concepts"]
CLASSIFICATION_CONCEPT: dict[str, str | None] = _SPEC["classifications"]
MEASURES: dict[str, dict] = _SPEC["measures"]
DEFAULT_THRESHOLDS: dict[str, float] = dict(_SPEC["thresholds"])
LFS_LEAVES = ("EMP", "UNE", "OLF")
BASIS_CONCEPT = {spec["basis"]: name for name, spec in CONCEPTS.items() if "basis" in spec}
_AGE = re.compile(r"Y(\d+)-(\d+)$|YGE(\d+)$")


@dataclass(frozen=True)
class Dimension:
    """One column of the leaf cube: its leaves (index = the integer stored per person) and, for every
    registry code of the dimension, the leaves it adds up."""

    name: str
    leaves: tuple[str, ...]
    members: dict[str, tuple[int, ...]]

    def leaf_index(self, code: str) -> int:
        return self.leaves.index(code)


def _expand(codes: list[str], dimension: str) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]]]:
    """Leaves of a code list (codes that are no identity's total) and every code's leaves, by expanding the
    registry identities of that dimension; all identities of one total must agree, with weights 0 or 1."""
    identities = [i for i in IDENTITIES if i.dimension == dimension and i.total in codes and not i.partial]
    totals = {i.total for i in identities}
    leaves = tuple(c for c in codes if c not in totals)

    def expand(code: str, seen: tuple[str, ...] = ()) -> dict[str, int]:
        if code in leaves:
            return {code: 1}
        if code in seen:
            raise ValueError(f"codes.yaml identities: {code} is defined through itself")
        found = []
        for identity in (i for i in identities if i.total == code):
            coef: dict[str, int] = {}
            for part, sign in identity.parts:
                for leaf, c in expand(part, (*seen, code)).items():
                    coef[leaf] = coef.get(leaf, 0) + sign * c
            found.append({leaf: c for leaf, c in coef.items() if c})
        if any(f != found[0] for f in found) or any(c != 1 for c in found[0].values()):
            raise ValueError(f"codes.yaml identities: {code} has no single sum of distinct categories ({found})")
        return found[0]

    members = {code: tuple(sorted(leaves.index(leaf) for leaf in expand(code))) for code in codes}
    return leaves, members


@cache
def dimensions() -> dict[str, Dimension]:
    """The cube's dimensions: sex, age, labour force status, the row classifications and the bases."""
    dims = {}
    leaves, members = _expand(list(SEX), "sex")
    dims["sex"] = Dimension("sex", leaves, members)
    dims["labour_force_status"] = Dimension(
        "labour_force_status", LFS_LEAVES, {c: (i,) for i, c in enumerate(LFS_LEAVES)}
    )
    for classification, concept in CLASSIFICATION_CONCEPT.items():
        if concept is not None:
            leaves, members = _expand(list(CLASSIFICATIONS[classification]), "classif1")
            dims[concept] = Dimension(concept, leaves, members)
    for basis, concept in BASIS_CONCEPT.items():
        leaves, members = _expand(list(MIGRATORY_STATUS[basis]), "classif2")
        dims[concept] = Dimension(concept, leaves, members)
    for concept, spec in CONCEPTS.items():  # the crosswalks must land on leaves
        for standard, target in (spec.get("crosswalk") or {}).items():
            if concept in dims and target not in dims[concept].leaves:
                raise ValueError(
                    f"concepts.yaml {concept}: {standard} -> {target} is not a detailed registry category "
                    f"(leaves: {', '.join(dims[concept].leaves)})"
                )
    return dims


def age_bins() -> list[tuple[int, int | None]]:
    """(lowest, highest or None) completed years of each age leaf, in leaf order (from the codes Y15-24, YGE65)."""
    bins = []
    for code in dimensions()["age"].leaves:
        found = _AGE.search(code)
        if not found:
            raise ValueError(f"codes.yaml age category {code}: cannot read its age range (expected Yaa-bb or YGEaa)")
        bins.append((int(found.group(1)), int(found.group(2))) if found.group(1) else (int(found.group(3)), None))
    return bins


def working_age() -> int:
    return min(lo for lo, _ in age_bins())


def standard_leaf(concept: str, standard: str) -> int:
    """The leaf index a standard code (ISIC section C, ISCED 3, NATIVE, ...) falls in."""
    return dimensions()[concept].leaf_index(CONCEPTS[concept]["crosswalk"][standard])


@dataclass(frozen=True)
class StockTable:
    """How one stock table of the registry is tabulated: its rows' concept, and who is counted and how."""

    table: TableSpec
    measure: str
    concept: str | None
    population: tuple[str, ...]
    status_in_employment: str | None
    statistic: str
    variable: str | None


@cache
def stock_tables() -> list[StockTable]:
    """Every stock table of the registry, in registry order, with its measure read from its indicator."""
    out = []
    for table in (t for t in TABLES.values() if t.family == "stock"):
        measure = table.indicator.split("_")[1]
        if measure not in MEASURES:
            raise ValueError(
                f"concepts.yaml measures: no entry for {measure} (indicator {table.indicator} of {table.id})"
            )
        if table.classification not in CLASSIFICATION_CONCEPT:
            raise ValueError(f"concepts.yaml classifications: no entry for {table.classification} (table {table.id})")
        spec = MEASURES[measure]
        population = LFS_LEAVES if spec["population"] == "all" else tuple(spec["population"])
        out.append(
            StockTable(
                table,
                measure,
                CLASSIFICATION_CONCEPT[table.classification],
                population,
                spec.get("status_in_employment"),
                spec["statistic"],
                spec.get("variable"),
            )
        )
    return out
