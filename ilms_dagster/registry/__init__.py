"""The ILMQ table registry: tables and code lists are data (tables.yaml, codes.yaml), read once here.

Everything table-specific (assets, template sheets, parser, checks) is generated from `TABLES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path

import pycountry
import yaml

_HERE = Path(__file__).parent
_CODES = yaml.safe_load((_HERE / "codes.yaml").read_text())
_TABLES = yaml.safe_load((_HERE / "tables.yaml").read_text())

FAMILIES = ("stock", "inflow", "outflow", "return", "abroad")
TEMPLATE_VERSION: str = _TABLES["template_version"]
# The bundled sample submissions cover ROUNDS; the collection's rounds run from FIRST_ROUND to the current year
# (open_rounds: what the round partitions hold).
ROUNDS: list[str] = [str(r) for r in range(_TABLES["rounds"]["first"], _TABLES["rounds"]["last"] + 1)]
FIRST_ROUND: str = str(_TABLES["rounds"]["first"])


def open_rounds(today: date | None = None) -> list[str]:
    """Every collection round so far: the first round to the current year's (which exists from 1 January)."""
    today = today or datetime.now(UTC).date()
    return [str(r) for r in range(int(FIRST_ROUND), today.year + 1)]


REPORTING_COUNTRIES: list[str] = list(_CODES["reporting_countries"])
# The usual partners (template rows), then every other ISO 3166-1 country by code: names from codes.yaml first.
USUAL_PARTNERS: dict[str, str] = dict(_CODES["countries"])
COUNTRY_NAMES: dict[str, str] = USUAL_PARTNERS | {
    c.alpha_3: c.name for c in sorted(pycountry.countries, key=lambda c: c.alpha_3) if c.alpha_3 not in USUAL_PARTNERS
}
OBS_STATUS: dict[str, str] = dict(_CODES["obs_status"])
PARTNER_ROWS_TO_ADD: int = int(_TABLES["partner_rows_to_add"])


def find_country(text: object) -> str | None:
    """The ISO3 code of a country typed as its ISO3 or ISO2 code or its name (ISO 3166 or codes.yaml), else None."""
    wanted = str(text or "").strip()
    if not wanted:
        return None
    by_name = {name.casefold(): iso for iso, name in USUAL_PARTNERS.items()}
    if wanted.upper() in COUNTRY_NAMES:
        return wanted.upper()
    if wanted.casefold() in by_name:
        return by_name[wanted.casefold()]
    try:
        return pycountry.countries.lookup(wanted).alpha_3
    except LookupError:
        return None


SEX: dict[str, str] = dict(_CODES["sex"])
MIGRATORY_STATUS: dict[str, dict[str, str]] = _CODES["migratory_status"]


def reference_years(round_: str | int) -> list[int]:
    """Reference years a round's questionnaire asks for (earlier years may be revised)."""
    window = _TABLES["reference_years"]
    return list(range(int(round_) + window["first"], int(round_) + window["last"] + 1))


def deadline(round_: str | int) -> date:
    """Submission deadline of a round."""
    return date(int(round_), _TABLES["deadline"]["month"], _TABLES["deadline"]["day"])


def _partner_prefix(spec: dict | str) -> str | None:
    return spec["countries"] if isinstance(spec, dict) and set(spec) == {"countries"} else None


def _code_list(spec: dict | str, countries: dict[str, str] = COUNTRY_NAMES) -> dict[str, str]:
    if prefix := _partner_prefix(spec):
        codes = {f"{prefix}_TOTAL": "Total"}
        codes |= {f"{prefix}_{iso}": name for iso, name in countries.items()}
        codes[f"{prefix}_X"] = "Other countries and not stated"
        return codes
    return dict(spec)


# Every code a classification holds (partner lists: every ISO 3166-1 country) ...
CLASSIFICATIONS: dict[str, dict[str, str]] = {k: _code_list(v) for k, v in _CODES["classifications"].items()}
# ... and the rows the template lists (partner lists: the usual partners; others are added by the focal point).
TEMPLATE_ROWS: dict[str, dict[str, str]] = {
    k: _code_list(v, USUAL_PARTNERS) for k, v in _CODES["classifications"].items()
}
# The label of every code of the registry (sex, migratory status, categories, countries), for reports and exports.
CODE_LABELS: dict[str, str] = (
    dict(SEX)
    | {c: label for codes in MIGRATORY_STATUS.values() for c, label in codes.items()}
    | {c: label for codes in CLASSIFICATIONS.values() for c, label in codes.items()}
    | COUNTRY_NAMES
)
PARTNER_PREFIXES: dict[str, str] = {k: p for k, v in _CODES["classifications"].items() if (p := _partner_prefix(v))}


@dataclass(frozen=True)
class Unit:
    """A unit of measure: whether values add up, and the plausible range of one value."""

    label: str
    additive: bool
    min: float
    max: float
    strict_min: bool
    precision: float  # figures are rounded to it: each is within precision / 2 of the true value


UNITS: dict[str, Unit] = {name: Unit(**spec) for name, spec in _TABLES["units"].items()}


@dataclass(frozen=True)
class Identity:
    """`total = sum(sign * part)` over one dimension (sex, classif1 or classif2), checked by `rule`."""

    rule: str
    dimension: str
    total: str
    parts: tuple[tuple[str, int], ...]  # (code, +1 | -1)
    partial: bool = False  # a partner-country list: often only the main partners are published

    @classmethod
    def parse(cls, rule: str, dimension: str, text: str, partial: bool = False) -> Identity:
        total, _, rhs = text.partition(" = ")
        tokens = ["+", *rhs.split()]
        if not total or len(tokens) % 2 or any(op not in "+-" for op in tokens[::2]):
            raise ValueError(f"codes.yaml identities/{rule}: cannot read {text!r} (write `TOTAL = A + B - C`)")
        return cls(
            rule,
            dimension,
            total.strip(),
            tuple((code, 1 if op == "+" else -1) for op, code in zip(tokens[::2], tokens[1::2])),
            partial,
        )

    @property
    def codes(self) -> set[str]:
        return {self.total, *(code for code, _ in self.parts)}


def _identities() -> list[Identity]:
    out = [
        Identity.parse(rule, spec["dimension"], text)
        for rule, spec in _CODES["identities"].items()
        for text in spec["sums"]
    ]
    for spec in _CODES["classifications"].values():  # partner-country lists: TOTAL = partners + X
        if _partner_prefix(spec):
            codes = list(_code_list(spec))
            out.append(Identity("country_total", "classif1", codes[0], tuple((c, 1) for c in codes[1:]), partial=True))
    known = set(SEX) | {c for status in MIGRATORY_STATUS.values() for c in status}
    known |= {c for codes in CLASSIFICATIONS.values() for c in codes}
    for identity in out:
        if unknown := identity.codes - known:
            raise ValueError(f"codes.yaml identities/{identity.rule}: unknown codes {sorted(unknown)}")
    return out


IDENTITIES: list[Identity] = _identities()


@dataclass(frozen=True)
class Column:
    """One input column of a table sheet: a sex and, for stock tables, a migratory status."""

    indicator: str
    sex: str
    classif2: str | None
    label: str

    @property
    def code(self) -> str:
        return self.sex if self.classif2 is None else f"{self.sex} {self.classif2}"


@dataclass(frozen=True)
class TableSpec:
    id: str
    indicator: str
    family: str
    title: str
    classification: str
    bases: tuple[str, ...]
    unit: str

    @property
    def categories(self) -> dict[str, str]:
        """The rows the template lists (classif1 code -> label), in template order."""
        return TEMPLATE_ROWS[self.classification]

    @property
    def codes(self) -> dict[str, str]:
        """Every classif1 code the table may hold: the listed rows and, for partner tables, every country."""
        return CLASSIFICATIONS[self.classification]

    @property
    def partner_prefix(self) -> str | None:
        """`CDS_DES`-like prefix of a partner-country table (rows may be added), else None."""
        return PARTNER_PREFIXES.get(self.classification)

    @property
    def indicators(self) -> list[str]:
        if not self.bases:
            return [self.indicator]
        return [self.indicator.format(basis=b) for b in self.bases]

    @cached_property
    def columns(self) -> list[Column]:
        if not self.bases:
            return [Column(self.indicator, sex, None, label) for sex, label in SEX.items()]
        return [
            Column(self.indicator.format(basis=basis), sex, status, f"{status_label} / {sex_label}")
            for basis in self.bases
            for status, status_label in MIGRATORY_STATUS[basis].items()
            for sex, sex_label in SEX.items()
        ]

    @property
    def codes_by_dimension(self) -> dict[str, set[str]]:
        """The codes each tidy column of this table may hold."""
        return {
            "sex": set(SEX),
            "classif1": set(self.codes),
            "classif2": {c for b in self.bases for c in MIGRATORY_STATUS[b]},
        }

    @property
    def total_category(self) -> str:
        return next(iter(self.categories))

    @property
    def sheet(self) -> str:
        return self.id


def load_tables(entries: list[dict]) -> dict[str, TableSpec]:
    """Validate registry entries (as in tables.yaml) into TableSpecs, with errors naming the entry."""
    tables = {}
    for entry in entries:
        spec = TableSpec(**{**entry, "bases": tuple(entry.get("bases") or ())})
        if spec.family not in FAMILIES:
            raise ValueError(f"tables.yaml: table {spec.id} has unknown family {spec.family!r}")
        if spec.unit not in UNITS:
            raise ValueError(f"tables.yaml: table {spec.id} has unknown unit {spec.unit!r}")
        if spec.classification not in CLASSIFICATIONS:
            raise ValueError(f"tables.yaml: table {spec.id} has unknown classification {spec.classification!r}")
        if len(spec.sheet) > 31:
            raise ValueError(f"tables.yaml: table id {spec.id} is longer than Excel's 31-character sheet names")
        if spec.id in tables:
            raise ValueError(f"tables.yaml: duplicate table id {spec.id}")
        tables[spec.id] = spec
    return tables


TABLES: dict[str, TableSpec] = load_tables(_TABLES["tables"])
