"""Figures on the real published ILOSTAT rows of ../shared/ilostat-sample, from a run (never typed by hand).

On a temporary project: the files are imported by the Dagster asset raw/ilostat_imports and the models built
(dg.materialize, as the UI does); every imported value is looked up in staging.latest; the SQL validation rules
run on the imported rows (each country's rows, all years, as one submission, as tests/checks/test_checks_ilostat.py
does); round 2024 is exported by the export assets, the ILOSTAT CSV re-imported into a fresh warehouse and the
SDMX-CSV re-read with pysdmx. Writes the figures into docs/ilostat.md, between its markers.
Usage: uv run python benchmarks/ilostat_figures.py
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import dagster as dg  # noqa: E402
import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
from dagster_duckdb import DuckDBResource  # noqa: E402

from ilms_dagster.assets.ilostat_files import ilostat_bulk_csv, ilostat_imports, sdmx_csv  # noqa: E402
from ilms_dagster.assets.sql_models import MODEL_ASSETS  # noqa: E402
from ilms_dagster.checks.rules import run_sql_rules  # noqa: E402
from ilms_dagster.ilostat.export import read_sdmx_csv  # noqa: E402
from ilms_dagster.ilostat.imports import PUBLISHED_ROUND  # noqa: E402
from ilms_dagster.resources import IlmsStorage  # noqa: E402
from ilms_dagster.resources.storage import PROJECT_ROOT  # noqa: E402
from ilms_dagster.resources.warehouse import ensure_schema  # noqa: E402

SAMPLE = PROJECT_ROOT.parent / "shared" / "ilostat-sample"
DOC = PROJECT_ROOT / "docs" / "ilostat.md"
START, END = "<!-- ilostat-figures:start -->", "<!-- ilostat-figures:end -->"
KEY = ["ref_area", "indicator", "sex", "classif1", "classif2", "time"]


def resources(root: Path) -> dict:
    return {
        "storage": IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox")),
        "warehouse": DuckDBResource(database=str(root / "warehouse.duckdb")),
    }


def import_and_build(root: Path, files: list[Path]) -> None:
    (root / "ilostat").mkdir(parents=True)
    for f in files:
        shutil.copy(f, root / "ilostat" / f.name)
    assert dg.materialize([ilostat_imports, *MODEL_ASSETS], resources=resources(root)).success


def frame(root: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql).df()


def flagged(loaded: pd.DataFrame, folder: Path) -> tuple[dict[str, set], dict[str, set]]:
    """Cells (file:line) named by an error / a warning of the SQL rules, each country's rows as one submission."""
    errors, warnings = set(), set()
    with duckdb.connect() as conn:
        ensure_schema(conn)
        for country, of_country in loaded.groupby("ref_area", sort=True):
            parquet = {}
            for table_id, rows in of_country.groupby("table_id", sort=True):
                parquet[table_id] = folder / f"{country}_{table_id}.parquet"
                rows.drop(columns=["ref_area", "table_id"]).to_parquet(parquet[table_id])
            found = run_sql_rules(conn, parquet, 2025, country)
            cells = set(of_country.cell)
            for f in found.itertuples():
                named = {f.cell} | set(re.findall(r"\(([^()]+\.csv:\d+)\)", f.message))
                (errors if f.severity == "error" else warnings).update(named & cells)
    return errors, warnings - errors


def run() -> str:
    started = time.monotonic()
    files = sorted(SAMPLE.glob("*.csv"))
    with tempfile.TemporaryDirectory() as tmp:
        root, fresh = Path(tmp) / "published", Path(tmp) / "reimported"
        import_and_build(root, files)
        rows = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)
        same = " AND ".join(f"v.{k} IS NOT DISTINCT FROM l.{k}" for k in ["table_id", *KEY])
        loaded = frame(
            root,
            f"SELECT l.*, v.obs_value AS latest_value, v.round AS latest_round FROM staging.ilmq_loaded"
            f" AS l LEFT JOIN staging.latest AS v ON {same} WHERE l.round = {PUBLISHED_ROUND}",
        )
        reproduced = loaded[
            (loaded.latest_round == PUBLISHED_ROUND) & ((loaded.obs_value - loaded.latest_value).abs() <= 0.0005)
        ]
        skipped = frame(
            root,
            "SELECT indicator, regexp_replace(code, '_[^_]+$', '_*') AS codes, sum(rows)::INT AS n,"
            " count(*) AS distinct_codes FROM raw.ilostat_skipped GROUP BY ALL ORDER BY ALL",
        )
        errors, warnings = flagged(loaded.drop(columns=["latest_value", "latest_round"]), Path(tmp))
        blocked_countries = sorted(set(loaded[loaded.cell.isin(errors)].ref_area))
        # what quarantine does (dbt_like_sql/accepted_tables.sql): a table of a submission with an open error
        blocked_tables = set(
            map(tuple, loaded[loaded.cell.isin(errors)][["ref_area", "table_id"]].drop_duplicates().values)
        )
        assert dg.materialize([ilostat_bulk_csv, sdmx_csv], partition_key="2024", resources=resources(root)).success
        exported = sorted((root / "exports" / "2024" / "ilostat").glob("*.csv"))
        import_and_build(fresh, exported)
        obs = (
            "SELECT ref_area, indicator, sex, classif1, classif2, time, round(obs_value, 3), obs_status, note, source"
            " FROM staging.latest ORDER BY ALL"
        )
        round_trip = frame(fresh, obs).equals(frame(root, obs))
        sdmx_rows = sum(
            len(f)
            for p in sorted((root / "exports" / "2024" / "sdmx").glob("*.csv"))
            for f in read_sdmx_csv(p).values()
        )
    by_ind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows.itertuples():
        by_ind[r.indicator]["published"] += 1
    for r in loaded.itertuples():
        d = by_ind[r.indicator]
        d["imported"] += 1
        d["reproduced"] += r.Index in reproduced.index
        d["errors"] += r.cell in errors
        d["warnings"] += r.cell in warnings
        d["blocked"] += r.ref_area in blocked_countries
        d["quarantined"] += (r.ref_area, r.table_id) in blocked_tables
    total = {
        k: sum(d[k] for d in by_ind.values())
        for k in ("published", "imported", "reproduced", "errors", "warnings", "blocked", "quarantined")
    }

    def pct(n: int) -> str:
        return f"{100 * n / total['imported']:.1f}%"

    lines = [
        "| indicator | published rows | imported | reproduced in `staging.latest` (0.001) | flagged by an error "
        "rule | by a warning only |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| `{i}` | {d['published']} | {d['imported']} | {d['reproduced']} | {d['errors']} | {d['warnings']} |"
        for i, d in sorted(by_ind.items())
    ]
    lines.append(
        f"| **all** | **{total['published']}** | **{total['imported']}** | **{total['reproduced']}** | "
        f"**{total['errors']}** ({pct(total['errors'])}) | **{total['warnings']}** ({pct(total['warnings'])}) |"
    )
    not_loaded = "; ".join(
        f"`{r.indicator}` {r.codes} ({r.distinct_codes} code(s), {r.n} rows)" for r in skipped.itertuples()
    )
    figures = "\n".join(
        [
            f"On the {len(files)} real ILOSTAT files of `../shared/ilostat-sample/` ({total['published']} published rows), "
            f"`benchmarks/ilostat_figures.py` ({time.monotonic() - started:.0f} s) imports them with the asset "
            f"`raw/ilostat_imports`, builds the models and finds:",
            "",
            *lines,
            "",
            f"- Not imported, counted by code (`raw.ilostat_skipped`): {total['published'] - total['imported']} rows whose "
            f"classif1 is in no registry code list: {not_loaded}.",
            f"- Published values are taken as published: none of them is kept out of the marts. Checked as submissions "
            f"(each country's rows one workbook), the rules' errors would block {', '.join(blocked_countries)}: "
            f"{total['blocked']} of {total['imported']} values ({pct(total['blocked'])}), "
            f"{total['blocked'] - total['errors']} of them not flagged themselves. Quarantine is per table, not per "
            f"partition: kept out of the marts without a review, {total['quarantined']} values ({pct(total['quarantined'])}) "
            f"of {len(blocked_tables)} country tables, {total['quarantined'] - total['errors']} of them consistent; "
            f"with the {total['errors']} flagged values accepted on review as the known source inconsistencies the "
            f"sample's README lists (`ilms review accept`, values unchanged), none.",
            f"- Export of round 2024 (assets `exports/ilostat_bulk_csv`, `exports/sdmx_csv`): re-imported into a fresh "
            f"warehouse, `staging.latest` is {'identical' if round_trip else 'DIFFERENT'}; the SDMX-CSV re-read with "
            f"pysdmx holds {sdmx_rows} observations (of {total['imported']}).",
        ]
    )
    return figures


def main() -> int:
    figures = run()
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    DOC.write_text(head + START + "\n" + figures + "\n" + END + rest.split(END, 1)[1])
    print(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
