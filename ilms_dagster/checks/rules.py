"""The validation rules (rules.yaml) and the SQL ones run on DuckDB (sql/<kind>.sql).

SQL rules read a few relations set up here, per submission: `obs` (every table of the submission, from its
staged Parquet), `earlier` (this country's values from earlier rounds, in the warehouse), and the registry's
`identity_terms`, `rule_tables`, `bound_pairs` and `total_groups`. Each returns findings: rule, table_id, cell, severity,
expected, found, message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from ilms_dagster.checks.findings import FINDING_COLUMNS
from ilms_dagster.registry import IDENTITIES, TABLES, UNITS, TableSpec

_HERE = Path(__file__).parent
_SPEC = yaml.safe_load((_HERE / "rules.yaml").read_text())
_KEYS = "indicator, sex, classif1, classif2, time, obs_value, cell"


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    blocking: bool
    description: str
    params: dict = field(default_factory=dict)
    fix: str = ""  # what the focal point can do about a finding, in plain words

    def applies(self, table: TableSpec) -> bool:
        """Whether this rule can find anything in the table (it is then one of the table's checks)."""
        if self.kind == "identity":
            codes = table.codes_by_dimension
            return UNITS[table.unit].additive and any(
                i.rule == self.name and i.total in codes[i.dimension] for i in IDENTITIES
            )
        if self.kind == "bound":
            return any(lower == table.id for lower, _ in self.params["pairs"])
        if self.kind == "same_total":
            return any(table.id in members for members in self.params["groups"].values())
        return True


RULES: dict[str, Rule] = {
    name: Rule(
        name,
        spec.pop("kind"),
        spec.pop("blocking"),
        " ".join(spec.pop("description").split()),
        fix=spec.pop("fix"),
        params=spec,
    )
    for name, spec in ((n, dict(s)) for n, s in _SPEC["rules"].items())
}
SQL_KINDS = sorted({r.kind for r in RULES.values()} - {"expectations"})


@cache
def _sql(kind: str) -> str:
    return (_HERE / "sql" / f"{kind}.sql").read_text()


def _registry_relations() -> dict[str, pd.DataFrame]:
    terms = []
    for n, identity in enumerate(IDENTITIES):
        base = {
            "rule": identity.rule,
            "identity_id": n,
            "dimension": identity.dimension,
            "partial": identity.partial,
            "n_parts": len(identity.parts),
        }
        terms.append(base | {"role": "total", "position": 0, "code": identity.total, "sign": 1})
        terms += [
            base | {"role": "part", "position": k, "code": code, "sign": sign}
            for k, (code, sign) in enumerate(identity.parts, start=1)
        ]
    bounds = [
        {"rule": r.name, "lower_table": lo, "upper_table": hi}
        for r in RULES.values()
        if r.kind == "bound"
        for lo, hi in r.params["pairs"]
    ]
    groups = [
        {"rule": r.name, "group_name": name, "table_id": t, "position": i}
        for r in RULES.values()
        if r.kind == "same_total"
        for name, members in r.params["groups"].items()
        for i, t in enumerate(members)
    ]
    tables = [
        {
            "table_id": t.id,
            "additive": UNITS[t.unit].additive,
            "total_category": t.total_category,
            "precision": UNITS[t.unit].precision,
        }
        for t in TABLES.values()
    ]
    return {
        "identity_terms": pd.DataFrame(terms),
        "bound_pairs": pd.DataFrame(bounds),
        "total_groups": pd.DataFrame(groups),
        "rule_tables": pd.DataFrame(tables),
    }


def run_sql_rules(
    conn: duckdb.DuckDBPyConnection, parquet_by_table: dict[str, Path], round_: int, country: str
) -> pd.DataFrame:
    """Findings (FINDING_COLUMNS) of every SQL rule on one submission. `conn` is the warehouse connection
    (earlier rounds are read from it); the relations it creates are temporary and dropped after."""
    paths = {f"p{i}": str(p) for i, p in enumerate(parquet_by_table.values())}
    obs = " UNION ALL ".join(
        f"SELECT '{t}' AS table_id, {_KEYS} FROM read_parquet($p{i})" for i, t in enumerate(parquet_by_table)
    )
    earlier = " UNION ALL ".join(
        f"SELECT '{t}' AS table_id, round, {_KEYS} FROM ilmq.{t} WHERE ref_area = $country AND round < $round"
        for t in TABLES
    )
    registered = _registry_relations()
    try:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE obs AS {obs}", paths)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE earlier AS {earlier}", {"country": country, "round": int(round_)})
        for name, frame in registered.items():
            conn.register(name, frame)
        found = []
        for kind in SQL_KINDS:
            params = next(r.params for r in RULES.values() if r.kind == kind)
            params = {k: v for k, v in params.items() if f"${k}" in _sql(kind)}
            found.append(conn.execute(_sql(kind), params).df())
    finally:
        for name in registered:
            conn.unregister(name)
        conn.execute("DROP TABLE IF EXISTS temp.obs")
        conn.execute("DROP TABLE IF EXISTS temp.earlier")
    frame = pd.concat(found, ignore_index=True)
    frame["check_name"] = frame["rule"]
    return frame[FINDING_COLUMNS]
