"""SQL models (`dbt_like_sql/<name>.sql`): discovery and dependency parsing with sqlglot (built by `models.build`).

A model file is a YAML header in a leading `/* ... */` comment, then exactly one SELECT:

    /*
    description: What the table holds, its grain and its units.
    schema: marts            # or staging, for helper models
    columns:
      ref_area: Reporting country (ISO 3166-1 alpha-3).
    */
    SELECT ...

The file name is the model name and the table is `<schema>.<name>`. A column left empty in `columns`
(`ref_area:`) takes the description of the same column in the models it reads, if they agree on one.

The tables a model reads are found by parsing the SELECT (DuckDB dialect), never declared by hand:
`ilmq.<table>`, `raw.submissions` and `raw.ilostat_imports` (written by ingestion and the ILOSTAT import), `validation.<x>` (written by the checks, read
as is), `staging.registry_*` (the registry, written from `ilms_dagster.registry` by the runner before the
model runs) and `staging.<m>` / `marts.<m>` (other models). Anything else is an error naming the file. This module knows nothing of Dagster:
`ilms_dagster.assets.sql_models` turns each model into an asset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pandas as pd
import sqlglot
import yaml
from sqlglot import exp

from ilms_dagster.registry import (
    CLASSIFICATIONS,
    COUNTRY_NAMES,
    REPORTING_COUNTRIES,
    TABLES,
    deadline,
    open_rounds,
    reference_years,
)
from ilms_dagster.resources.storage import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "dbt_like_sql"
MODEL_SCHEMAS = ("staging", "marts")
INGESTED = {("raw", "submissions"), ("raw", "ilostat_imports")} | {("ilmq", t) for t in TABLES}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER = re.compile(r"\A\s*/\*(?P<yaml>.*?)\*/(?P<sql>.*)\Z", re.S)


class ModelError(ValueError):
    """A model file that cannot be loaded or built; the message names the file."""


@dataclass(frozen=True)
class Source:
    """A table models may read that no model builds: ingested, checked, or written from the registry."""

    schema: str
    name: str
    kind: str  # ingested | validation | registry


@dataclass(frozen=True)
class Model:
    name: str
    schema: str
    description: str
    columns: dict[str, str]
    select: str
    path: Path
    reads: tuple[tuple[str, str], ...]  # (schema, table) of every table the SELECT reads, sorted

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"

    def upstream_models(self, models: dict[str, Model]) -> list[str]:
        return [name for schema, name in self.reads if schema in MODEL_SCHEMAS and name in models]

    def sources(self) -> list[Source]:
        return [s for s in (source_of(schema, name) for schema, name in self.reads) if s is not None]


# --- registry tables: the registry as SQL data, written by the runner for the models that read them -----


@dataclass(frozen=True)
class RegistryTable:
    name: str
    description: str
    columns: dict[str, tuple[str, str]]  # name -> (DuckDB type, description)
    rows: Callable[[], list[tuple]] = field(repr=False)

    @property
    def table(self) -> str:
        return f"staging.{self.name}"

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows(), columns=list(self.columns))


def _table_rows() -> list[tuple]:
    return [
        (t.id, t.indicator, t.family, t.title, t.classification, t.total_category, t.unit, ",".join(t.bases) or None)
        for t in TABLES.values()
    ]


def _category_rows() -> list[tuple]:
    return [
        (name, code, label, i + 1, i == 0)
        for name, codes in CLASSIFICATIONS.items()
        for i, (code, label) in enumerate(codes.items())
    ]


def _round_rows() -> list[tuple]:
    return [(int(r), year, deadline(r)) for r in open_rounds() for year in reference_years(r)]


def _country_rows() -> list[tuple]:
    codes = list(COUNTRY_NAMES) + [c for c in REPORTING_COUNTRIES if c not in COUNTRY_NAMES]
    return [(c, COUNTRY_NAMES.get(c), c in REPORTING_COUNTRIES) for c in codes]


REGISTRY_TABLES: dict[str, RegistryTable] = {
    r.name: r
    for r in [
        RegistryTable(
            "registry_tables",
            "The ILMQ tables of the registry (ilms_dagster/registry/tables.yaml), one row per table.",
            {
                "table_id": ("VARCHAR", "ILMQ table id: the table `ilmq.<table_id>` and the template sheet."),
                "indicator": ("VARCHAR", "ILOSTAT indicator code; `{basis}` stands for CBR or CCT in stock tables."),
                "family": ("VARCHAR", "stock, inflow, outflow, return or abroad."),
                "title": ("VARCHAR", "Title of the table in the questionnaire."),
                "classification": ("VARCHAR", "Row classification (classif1), a key of registry_categories."),
                "total_category": ("VARCHAR", "The classif1 code of the table's total row (its first category)."),
                "unit": ("VARCHAR", "thousands (counts) or local_currency (earnings)."),
                "bases": (
                    "VARCHAR",
                    "Migratory bases reported in classif2 (CBR place of birth, CCT citizenship), "
                    "comma-separated; NULL for flow tables.",
                ),
            },
            _table_rows,
        ),
        RegistryTable(
            "registry_categories",
            "Row categories (classif1 codes) of every classification, in template order.",
            {
                "classification": ("VARCHAR", "Classification name (registry_tables.classification)."),
                "code": ("VARCHAR", "ILOSTAT classif1 code, e.g. ECO_SECTOR_AGR or CDS_DES_THA."),
                "label": ("VARCHAR", "English label."),
                "position": ("INTEGER", "Order in the template, 1 = the total row."),
                "is_total": ("BOOLEAN", "True for the classification's total category."),
            },
            _category_rows,
        ),
        RegistryTable(
            "registry_rounds",
            "Collection rounds so far (the first round to the current year's, as the round partitions), the "
            "reference years each asks for (R-3..R-1) and its submission deadline.",
            {
                "round": ("INTEGER", "Collection round (year)."),
                "reference_year": ("INTEGER", "A reference year the round's questionnaire asks for."),
                "deadline": ("DATE", "Submission deadline of the round."),
            },
            _round_rows,
        ),
        RegistryTable(
            "registry_countries",
            "Partner countries of the by-country tables and the reporting countries of the collection.",
            {
                "iso3": ("VARCHAR", "ISO 3166-1 alpha-3 code."),
                "name": ("VARCHAR", "Country name."),
                "reporting": ("BOOLEAN", "True for the countries that submit the questionnaire (partitions)."),
            },
            _country_rows,
        ),
    ]
}


def source_of(schema: str, name: str) -> Source | None:
    """The non-model table `schema.name` models may read, or None."""
    if (schema, name) in INGESTED:
        return Source(schema, name, "ingested")
    if schema == "validation":
        return Source(schema, name, "validation")
    if schema == "staging" and name in REGISTRY_TABLES:
        return Source(schema, name, "registry")
    return None


# --- discovery ---------------------------------------------------------------------------------------


def tables_read(select: str, where: str = "<sql>") -> set[tuple[str, str]]:
    """(schema, table) of every table a single SELECT reads, its own CTEs excluded (sqlglot, DuckDB dialect)."""
    try:
        statements = [s for s in sqlglot.parse(select, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise ModelError(f"{where}: not valid DuckDB SQL: {exc}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError(f"{where}: a model is exactly one SELECT statement, found {len(statements)} statement(s)")
    tree = statements[0]
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    reads = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):  # table functions: range(), read_parquet(), unnest()
            continue
        name, schema = table.name.lower(), table.db.lower()
        if table.catalog:
            raise ModelError(f"{where}: table {table.sql('duckdb')} names a catalog; use <schema>.<table>")
        if not schema:
            if name in ctes:
                continue
            raise ModelError(
                f"{where}: table {name!r} has no schema: write <schema>.{name} (ilmq, raw, validation, "
                "staging or marts)"
            )
        reads.add((schema, name))
    return reads


def load_model(path: Path) -> Model:
    """Read one model file: its YAML header and its SELECT, and the tables the SELECT reads."""
    path = Path(path)
    name = path.stem
    if not _NAME.match(name):
        raise ModelError(f"{path}: a model name (the file name) is lower-case letters, digits and underscores")
    match = _HEADER.match(path.read_text())
    if not match:
        raise ModelError(f"{path}: the file must start with a /* ... */ YAML header (description, schema, columns)")
    try:
        header = yaml.safe_load(match["yaml"]) or {}
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: the header is not valid YAML: {exc}") from None
    problems = []
    if not isinstance(header, dict):
        header = {}
        problems.append("the header must be a YAML mapping")
    if unknown := set(header) - {"description", "schema", "columns"}:
        problems.append(f"unknown header key(s) {sorted(unknown)}")
    if not isinstance(header.get("description"), str) or not header["description"].strip():
        problems.append("`description` (text) is required")
    if header.get("schema") not in MODEL_SCHEMAS:
        problems.append(f"`schema` must be one of {list(MODEL_SCHEMAS)}, not {header.get('schema')!r}")
    columns = header.get("columns")
    if (
        not isinstance(columns, dict)
        or not columns
        or not all(v is None or (isinstance(v, str) and v.strip()) for v in columns.values())
    ):
        problems.append("`columns` must map every output column to its description (empty: inherited)")
        columns = {}
    if problems:
        raise ModelError(f"{path}: " + "; ".join(problems))
    select = match["sql"].strip().rstrip(";").strip()
    return Model(
        name=name,
        schema=header["schema"],
        description=" ".join(header["description"].split()),
        columns={str(k): " ".join(v.split()) if v else "" for k, v in columns.items()},
        select=select,
        path=path,
        reads=tuple(sorted(tables_read(select, str(path)))),
    )


def discover(models_dir: Path = MODELS_DIR) -> dict[str, Model]:
    """Every `<models_dir>/*.sql` model, in build order (upstream first); unknown tables are an error."""
    paths = sorted(Path(models_dir).glob("*.sql"))
    models = {m.name: m for m in (load_model(p) for p in paths)}
    for model in models.values():
        if model.name in REGISTRY_TABLES:
            raise ModelError(f"{model.path}: {model.name} is a registry table written by the runner; rename the model")
        for schema, name in model.reads:
            if source_of(schema, name):
                continue
            other = models.get(name)
            if schema in MODEL_SCHEMAS and other is not None and other.schema == schema:
                continue
            hint = f" (model {name} is in schema {other.schema})" if other is not None else ""
            raise ModelError(
                f"{model.path}: reads {schema}.{name}, which is no model in {models_dir}{hint}, no ILMQ table "
                f"(ilmq.<table id>), not raw.submissions, raw.ilostat_imports, validation.* or a registry table "
                f"({', '.join(r.table for r in REGISTRY_TABLES.values())})"
            )
    graph = {m.name: m.upstream_models(models) for m in models.values()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ModelError(f"{models_dir}: models read each other in a cycle: {' -> '.join(exc.args[1])}") from None
    resolved: dict[str, Model] = {}
    for name in order:
        resolved[name] = _inherit_descriptions(models[name], resolved)
    return resolved


def _inherit_descriptions(model: Model, upstream: dict[str, Model]) -> Model:
    """A column left without a description in the header takes the description of the same column in
    the models it reads (so a column passed through is described once), if they agree on one."""
    columns = dict(model.columns)
    for column, text in columns.items():
        if text:
            continue
        found = {upstream[n].columns[column] for n in model.upstream_models(upstream) if column in upstream[n].columns}
        if len(found) != 1:
            raise ModelError(
                f"{model.path}: column {column!r} has no description, and "
                + (
                    "no model it reads documents it"
                    if not found
                    else "the models it reads describe it differently: describe it here"
                )
            )
        (columns[column],) = found
    return replace(model, columns=columns)


# --- building ----------------------------------------------------------------------------------------
