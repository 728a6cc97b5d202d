"""What a round's publication shows, read once from the warehouse's marts into plain frames.

Round R's publication covers the reference years up to R - 1 (the years round R asks for and the earlier ones)
with the marts' latest vintage of each figure (its round is shown beside it as `vintage`); completeness and
timeliness are those of every round considered. Countries come from staging.reporting_countries, rounds from
marts.timeliness: never from constants. Every frame is sorted, so the output does not depend on row order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

# Key figures of a country profile: the total row (both sexes) of a registry table, at the latest reference year.
# (label, table id, migrants only: the classif2 of migrants on the country's basis)
KEY_FIGURES = (
    ("Migrant workers (employed, thousands)", "emp_by_age", True),
    ("Inflows of foreign nationals (thousands)", "inflow_by_citizenship", False),
    ("Outflows of nationals for employment (thousands)", "outflow_by_destination", False),
    ("Returning migrant workers (thousands)", "returns_by_previous_residence", False),
    ("Nationals abroad (thousands)", "nationals_abroad_by_residence", False),
)
MIGRANT_CODE = {"CBR": "CBR_BIR_FOREIGN", "CCT": "CCT_CIT_NONCIT"}
REQUIRED = (
    "marts.stocks",
    "marts.flows",
    "marts.returnees",
    "marts.corridors",
    "marts.completeness",
    "marts.completeness_grid",
    "marts.timeliness",
    "staging.latest",
    "staging.reporting_countries",
)


class PublicationError(ValueError):
    """A publication that cannot be built (no models, a round with no data); the message says what to do."""


@dataclass
class RoundData:
    round: int
    years: list[int]  # reference years the round asks for (R-3..R-1)
    rounds: list[int]  # every round considered (marts.timeliness), ascending
    countries: pd.DataFrame  # iso3, name
    basis: dict[str, str]  # country -> CBR or CCT, the migratory basis its charts use
    stocks: pd.DataFrame
    outflows: pd.DataFrame  # by destination, by sex, categories only (no total row)
    returnees: pd.DataFrame  # partner TOTAL: returnees against outflows
    corridors: pd.DataFrame  # the latest year with reports, among the reporting countries (no ROW)
    corridor_year: int | None
    grid: pd.DataFrame  # marts.completeness_grid of every round
    completeness: pd.DataFrame
    timeliness: pd.DataFrame
    key_figures: pd.DataFrame  # ref_area, label, value, time, source, vintage, obs_status, note
    missing: pd.DataFrame  # round R's unfilled cells: ref_area, table_id, family, time
    names: dict[str, str] = field(default_factory=dict)

    @property
    def last_year(self) -> int:
        return self.round - 1

    def name(self, iso3: str) -> str:
        return self.names.get(iso3, iso3)


def _df(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return conn.execute(sql, params or []).df()


def load(conn: duckdb.DuckDBPyConnection, round_: int | str) -> RoundData:
    """Read round `round_`'s publication from the marts (a read-only connection, or the asset's own)."""
    try:
        round_ = int(round_)
    except ValueError:
        raise PublicationError(f"round {round_!r} is not a year") from None
    present = {
        f"{s}.{t}" for s, t in conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
    }
    if missing := [t for t in REQUIRED if t not in present]:
        raise PublicationError(f"the warehouse has no {', '.join(missing)}: build the models first (`ilms run`)")
    rounds = [r for (r,) in conn.execute("SELECT DISTINCT round FROM marts.timeliness ORDER BY round").fetchall()]
    if round_ not in rounds:
        raise PublicationError(
            f"round {round_} is not among the rounds the marts consider "
            f"({', '.join(map(str, rounds)) or 'none: no submission received yet'})"
        )
    years = [
        y
        for (y,) in conn.execute(
            "SELECT reference_year FROM staging.registry_rounds WHERE round = ? ORDER BY reference_year", [round_]
        ).fetchall()
    ]
    last = round_ - 1
    countries = _df(conn, "SELECT iso3, name FROM staging.reporting_countries ORDER BY iso3")
    stocks = _df(
        conn, "SELECT * FROM marts.stocks WHERE sex = 'SEX_T' AND time <= ? ORDER BY ref_area, time, basis", [last]
    )
    counts = stocks.dropna(subset=["migrant_workers_thousands"]).groupby(["ref_area", "basis"]).size()
    basis = {}
    for (country, b), n in sorted(counts.items()):
        if country not in basis or n > counts[(country, basis[country])]:
            basis[country] = b  # the basis with the most years; CBR (sorted first) on a tie
    stocks = stocks[[basis.get(c) == b for c, b in zip(stocks.ref_area, stocks.basis)]].reset_index(drop=True)
    outflows = _df(
        conn,
        "SELECT ref_area, time, classif1, category, sex, value_thousands, vintage_round FROM marts.flows"
        " WHERE flow = 'outflow' AND breakdown = 'destination' AND NOT is_total AND time <= ?"
        " ORDER BY ref_area, time, classif1, sex",
        [last],
    )
    returnees = _df(
        conn,
        "SELECT ref_area, time, sex, returnees_thousands, outflows_thousands, return_ratio_pct,"
        " vintage_round FROM marts.returnees WHERE partner = 'TOTAL' AND time <= ?"
        " ORDER BY ref_area, time, sex",
        [last],
    )
    (corridor_year,) = conn.execute(
        "SELECT max(time) FROM marts.corridors WHERE time <= ? AND 'ROW' NOT IN (origin, destination)", [last]
    ).fetchone()
    corridors = _df(
        conn,
        "SELECT origin, origin_name, destination, destination_name, time, origin_reported_thousands,"
        " destination_reported_thousands, destination_basis, mirror_discrepancy_thousands,"
        " mirror_discrepancy_pct, vintage_round FROM marts.corridors WHERE time = ?"
        " AND 'ROW' NOT IN (origin, destination) ORDER BY origin, destination",
        [corridor_year],
    )
    grid = _df(conn, "SELECT * FROM marts.completeness_grid ORDER BY round, ref_area, table_id, time")
    completeness = _df(conn, "SELECT * FROM marts.completeness ORDER BY ALL")
    timeliness = _df(conn, "SELECT * FROM marts.timeliness ORDER BY round, ref_area")
    missing = grid[(grid["round"] == round_) & ~grid["filled_in_round"]][["ref_area", "table_id", "family", "time"]]
    return RoundData(
        round=round_,
        years=years,
        rounds=rounds,
        countries=countries,
        basis=basis,
        stocks=stocks,
        outflows=outflows,
        returnees=returnees,
        corridors=corridors,
        corridor_year=corridor_year,
        grid=grid,
        completeness=completeness,
        timeliness=timeliness,
        key_figures=_key_figures(conn, last, basis),
        missing=missing.reset_index(drop=True),
        names=dict(zip(countries.iso3, countries.name, strict=True)),
    )


def _key_figures(conn: duckdb.DuckDBPyConnection, last: int, basis: dict[str, str]) -> pd.DataFrame:
    """Per country and key figure, the latest reference year's value with its source, vintage and obs_status."""
    rows = []
    for position, (label, table_id, migrants) in enumerate(KEY_FIGURES):
        found = conn.execute(
            "SELECT l.ref_area, l.classif2, l.time, l.obs_value, l.source, l.round, l.obs_status, l.note"
            " FROM staging.latest AS l JOIN staging.registry_tables AS t USING (table_id)"
            " WHERE l.table_id = ? AND l.classif1 = t.total_category AND l.sex = 'SEX_T' AND l.time <= ?"
            "   AND l.obs_value IS NOT NULL ORDER BY l.ref_area, l.classif2, l.time",
            [table_id, last],
        ).fetchall()
        latest: dict[str, tuple] = {}
        for country, classif2, time, value, source, vintage, status, note in found:
            if migrants and classif2 != MIGRANT_CODE.get(basis.get(country, ""), None):
                continue
            latest[country] = (
                country,
                position,
                label,
                value,
                time,
                source,
                vintage,
                status,
                note,
            )  # sorted: latest year wins
        rows += latest.values()
    columns = ["ref_area", "position", "label", "value", "time", "source", "vintage", "obs_status", "note"]
    return pd.DataFrame(rows, columns=columns).sort_values(["ref_area", "position"]).reset_index(drop=True)
