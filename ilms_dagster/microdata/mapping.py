"""A survey's mapping file: from its own variables and codes to the concepts of concepts.yaml.

    microdata/<ISO3>_<SURVEY>.yaml        (e.g. microdata/THA_LFS.yaml; docs/microdata.md has a full example)

    country: THA
    survey: LFS
    source: "BA:Labour Force Survey"             # the ILMQ Metadata `source_stocks`
    reference_year: 2023                         # optional: else read from the file name <ISO3>_<SURVEY>_<YEAR>.<ext>
    design: {weight: wgt, strata: stratum, psu: ea}   # weight required; strata + psu give sampling errors
    weight_scale: 1                              # persons one unit of the weight stands for
    thresholds: {suppress_below: 3, unreliable_below: 30, max_cv: 0.3}
    secondary_suppression: true                  # default: suppressed cells cannot be recovered from totals
    variables:
      sex: {variable: sex, codes: {1: M, 2: F}}
      age: {variable: age}
      economic_activity: {variable: isic4, ranges: [[1, 3, A], [5, 9, B]], missing: X}
      country_of_birth: {variable: cob, codes: {764: THA, 104: MMR}, other: FOREIGN, missing: X}

`codes` maps single codes, `ranges` [low, high, target] inclusive numeric ranges, `missing` the target of an
empty value and `other` the target of every code not listed (an explicit choice, written in the file).
Anything else found in the data is an error listing the codes and their counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ilms_dagster.microdata.concepts import CONCEPTS, DEFAULT_THRESHOLDS

_ISO3 = re.compile(r"^[A-Z]{3}$")
_FILE_NAME = re.compile(r"^([A-Za-z]{3})_([A-Za-z0-9-]+)_(\d{4})\b")
REQUIRED = ("sex", "age", "labour_force_status", "country_of_birth", "citizenship")


class MicrodataError(ValueError):
    """A mapping or survey file that cannot be tabulated; every problem names the file, variable and code."""

    def __init__(self, file: str | Path, problems: list[str]):
        self.file = str(file)
        self.problems = problems
        super().__init__("\n".join([f"{self.file}: {len(problems)} problem(s)", *(f"  - {p}" for p in problems)]))


@dataclass(frozen=True)
class VariableMap:
    concept: str
    variable: str
    codes: dict[object, str] = field(default_factory=dict)
    ranges: tuple[tuple[float, float, str], ...] = ()
    missing: str | None = None
    other: str | None = None
    scale: float = 1.0

    @property
    def numeric(self) -> bool:
        return bool(CONCEPTS[self.concept].get("numeric"))


@dataclass(frozen=True)
class Mapping:
    path: Path
    country: str
    survey: str
    source: str
    variables: dict[str, VariableMap]
    weight: str
    weight_scale: float = 1.0
    strata: str | None = None
    psu: str | None = None
    reference_year: int | None = None
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    secondary_suppression: bool = True

    @property
    def has_design(self) -> bool:
        return bool(self.strata and self.psu)

    def columns(self) -> dict[str, str]:
        """Every survey variable the tabulation reads -> what it is for."""
        out = {self.weight: "survey weight"}
        if self.has_design:
            out |= {self.strata: "strata", self.psu: "primary sampling unit"}
        for concept, var in self.variables.items():
            out.setdefault(var.variable, concept)
        return out

    def year_of(self, data_file: Path) -> int:
        """The reference year of a survey file: the mapping's, else the year in its name."""
        if self.reference_year:
            return int(self.reference_year)
        found = _FILE_NAME.match(Path(data_file).name)
        if not found:
            raise MicrodataError(
                data_file,
                [
                    f"no reference year: name the file {self.country}_{self.survey}_<YEAR>"
                    f"{Path(data_file).suffix} or set reference_year in {self.path.name}"
                ],
            )
        return int(found.group(3))


def standard_codes(concept: str, country: str) -> set[str]:
    """The targets a survey code may be mapped to for a concept."""
    spec = CONCEPTS[concept]
    if "basis" in spec:
        return {"NATIVE", "FOREIGN", "X"}
    return set(spec.get("crosswalk") or {})


def standard_of(concept: str, target: str, country: str) -> str:
    """Normalise a target: an ISO3 code becomes NATIVE (the survey's own country) or FOREIGN."""
    if "basis" in CONCEPTS[concept] and _ISO3.match(target) and target not in ("FOREIGN", "NATIVE"):
        return "NATIVE" if target == country else "FOREIGN"
    return target


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; MicrodataError lists every problem (unknown concepts, targets, ...)."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MicrodataError(path, [f"not a readable YAML mapping ({type(exc).__name__}: {exc})"]) from None
    problems: list[str] = []
    if not isinstance(spec, dict):
        raise MicrodataError(path, ["expected a mapping with country, survey, design and variables"])
    country = str(spec.get("country") or "").upper()
    if not _ISO3.match(country):
        problems.append(f"country: expected an ISO3 code, found {spec.get('country')!r}")
    survey = str(spec.get("survey") or "")
    if not survey:
        problems.append("survey: missing (a short name such as LFS, used in file names <ISO3>_<SURVEY>_<YEAR>.<ext>)")
    design = spec.get("design") or {}
    if not design.get("weight"):
        problems.append("design.weight: missing (the survey weight variable)")
    if bool(design.get("strata")) != bool(design.get("psu")):
        problems.append("design: give both strata and psu (for sampling errors) or neither")
    thresholds = dict(DEFAULT_THRESHOLDS) | dict(spec.get("thresholds") or {})
    if unknown := sorted(set(thresholds) - set(DEFAULT_THRESHOLDS)):
        problems.append(f"thresholds: unknown {unknown} (known: {sorted(DEFAULT_THRESHOLDS)})")
    variables = {}
    raw_vars = spec.get("variables") or {}
    for concept in sorted(set(raw_vars) - set(CONCEPTS)):
        problems.append(f"variables.{concept}: unknown concept (known: {', '.join(CONCEPTS)})")
    for concept in REQUIRED:
        if concept not in raw_vars:
            problems.append(f"variables.{concept}: missing (required for every stock table)")
    for concept, entry in raw_vars.items():
        if concept in CONCEPTS:
            var = _variable_map(concept, entry, country, problems)
            if var:
                variables[concept] = var
    if problems:
        raise MicrodataError(path, problems)
    return Mapping(
        path,
        country,
        survey,
        str(spec.get("source") or f"BA:{survey}"),
        variables,
        str(design["weight"]),
        float(spec.get("weight_scale") or 1.0),
        design.get("strata"),
        design.get("psu"),
        spec.get("reference_year"),
        thresholds,
        bool(spec.get("secondary_suppression", True)),
    )


def _variable_map(concept: str, entry, country: str, problems: list[str]) -> VariableMap | None:
    where = f"variables.{concept}"
    if isinstance(entry, str):
        entry = {"variable": entry}
    if not isinstance(entry, dict) or not entry.get("variable"):
        problems.append(f"{where}: expected {{variable: <name>, codes: {{...}}}}, found {entry!r}")
        return None
    if CONCEPTS[concept].get("numeric"):
        if set(entry) - {"variable", "scale"}:
            problems.append(f"{where}: a numeric concept takes only variable and scale, found {sorted(entry)}")
        return VariableMap(concept, str(entry["variable"]), scale=float(entry.get("scale") or 1.0))
    allowed = standard_codes(concept, country)

    def target(value, what: str) -> str | None:
        text = str(value).strip()
        if text == "None" or not text:
            problems.append(f"{where}.{what}: no target")
            return None
        text = text.upper()
        std = standard_of(concept, text, country)
        if std not in allowed:
            iso3 = ", or an ISO3 code" if "basis" in CONCEPTS[concept] else ""
            problems.append(
                f"{where}.{what}: {value!r} is not a {CONCEPTS[concept]['standard']} code "
                f"(allowed: {', '.join(sorted(allowed))}{iso3})"
            )
            return None
        return std

    codes = {}
    for code, value in (entry.get("codes") or {}).items():
        if (t := target(value, f"codes[{code!r}]")) is not None:
            codes[code] = t
    ranges = []
    for item in entry.get("ranges") or []:
        if not (
            isinstance(item, list | tuple) and len(item) == 3 and all(isinstance(v, int | float) for v in item[:2])
        ):
            problems.append(f"{where}.ranges: expected [low, high, target], found {item!r}")
        elif (t := target(item[2], f"ranges[{item[0]}-{item[1]}]")) is not None:
            ranges.append((float(item[0]), float(item[1]), t))
    if not codes and not ranges and "other" not in entry:
        problems.append(f"{where}: no codes, ranges or other given")
    missing = target(entry["missing"], "missing") if entry.get("missing") is not None else None
    other = target(entry["other"], "other") if entry.get("other") is not None else None
    return VariableMap(concept, str(entry["variable"]), codes, tuple(ranges), missing, other)
