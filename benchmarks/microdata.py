"""Benchmark: every stock table of the registry from 10 million synthetic LFS person records, DuckDB (the
package's tabulation) beside a pandas groupby doing the same tabulations, in one run.

    nice -n 10 uv run python benchmarks/microdata.py                 # 10 million persons, writes docs/microdata.md
    uv run python benchmarks/microdata.py --persons 1000000 --no-docs

Each variant runs in its own process (time from the Parquet file to every cell; peak memory = the process's
maximum resident set size), the synthetic file is written once before. The pandas variant maps the survey
codes with the same mapping file and registry (Series.map / np.select), groups once per table and migratory
basis and sums leaves into the registry's cells; its cells are compared with DuckDB's. A third variant adds
the design-based standard errors (strata + PSUs) to the DuckDB run.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic LFS generator is a test harness: tests/support/microdata_synth.py
DOCS = ROOT / "docs" / "microdata.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def run_duckdb(mapping_path: Path, data: Path, out: Path, design: bool) -> None:
    from ilms_dagster.microdata import load_mapping, tabulate

    tab = tabulate(load_mapping(mapping_path), data, design=design)
    tab.cells.to_parquet(out)


def run_pandas(mapping_path: Path, data: Path, out: Path) -> None:
    import numpy as np
    import pandas as pd

    from ilms_dagster.microdata import load_mapping
    from ilms_dagster.microdata.concepts import (
        BASIS_CONCEPT,
        CONCEPTS,
        LFS_LEAVES,
        age_bins,
        dimensions,
        standard_leaf,
        stock_tables,
        working_age,
    )

    m = load_mapping(mapping_path)
    v = m.variables
    frame = pd.read_parquet(data, columns=list(m.columns()))
    frame = frame[frame[v["age"].variable] >= working_age()]
    leaf = {}
    for concept, var in v.items():
        if CONCEPTS[concept].get("numeric"):
            continue
        to_leaf = (
            (lambda s: LFS_LEAVES.index(s))
            if concept == "labour_force_status"
            else (lambda s, c=concept: standard_leaf(c, s))
        )
        col = frame[var.variable]
        out_col = col.map({code: to_leaf(std) for code, std in var.codes.items()})
        for lo, hi, std in var.ranges:
            out_col = out_col.mask(col.between(lo, hi), to_leaf(std))
        if var.other:
            out_col = out_col.mask(out_col.isna() & col.notna(), to_leaf(var.other))
        if var.missing:
            out_col = out_col.mask(col.isna(), to_leaf(var.missing))
        leaf[concept] = out_col.astype("float32")
    age = frame[v["age"].variable]
    conditions = [(age >= lo) & (age <= (hi if hi is not None else 10**6)) for lo, hi in age_bins()]
    leaf["age"] = pd.Series(np.select(conditions, range(len(conditions)), -1), index=frame.index).astype("int8")
    cube = pd.DataFrame(leaf)
    cube["w"] = frame[m.weight] * m.weight_scale
    ees = list(dimensions()["status_in_employment"].members["STE_AGGREGATE_EES"])
    earn = frame[v["earnings"].variable]
    cube["earn_w"] = (earn * cube["w"]).where(cube["status_in_employment"].isin(ees))
    cube["earn_d"] = cube["w"].where(cube["earn_w"].notna())
    rows = []
    for st in stock_tables():
        pop = cube[cube["labour_force_status"].isin([LFS_LEAVES.index(s) for s in st.population])]
        if st.status_in_employment:
            pop = pop[
                pop["status_in_employment"].isin(dimensions()["status_in_employment"].members[st.status_in_employment])
            ]
        for basis in st.table.bases:
            status = BASIS_CONCEPT[basis]
            keys = ["sex", status] + ([st.concept] if st.concept else [])
            g = (
                pop.groupby(keys, observed=True)
                .agg(
                    n=("w", "size"),
                    w=("w", "sum"),
                    n_earn=("earn_d", "count"),
                    ew=("earn_w", "sum"),
                    ed=("earn_d", "sum"),
                )
                .reset_index()
            )
            for sex, sl in dimensions()["sex"].members.items():
                gs = g[g["sex"].isin(sl)]
                for code2, ml in dimensions()[status].members.items():
                    gm = gs[gs[status].isin(ml)]
                    for code1 in st.table.categories:
                        gc = gm[gm[st.concept].isin(dimensions()[st.concept].members[code1])] if st.concept else gm
                        if st.statistic == "mean":
                            est = round(gc.ew.sum() / gc.ed.sum(), 2) if gc.n_earn.sum() else None
                            n = int(gc.n_earn.sum())
                        else:
                            est, n = gc.w.sum() / 1000, int(gc.n.sum())
                        rows.append((st.table.id, sex, code1, code2, n, est))
    pd.DataFrame(rows, columns=["table_id", "sex", "classif1", "classif2", "n_obs", "estimate"]).to_parquet(out)


def child(argv: list[str]) -> None:
    variant, mapping_path, data, out = argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3])
    import numpy  # noqa: F401  the same imports for both variants, before the clock starts
    import pandas  # noqa: F401

    import ilms_dagster.microdata  # noqa: F401
    import ilms_dagster.microdata.concepts  # noqa: F401

    started = time.perf_counter()
    if variant == "pandas":
        run_pandas(mapping_path, data, out)
    else:
        run_duckdb(mapping_path, data, out, design=variant == "duckdb+se")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    print(json.dumps({"variant": variant, "seconds": seconds, "peak_mib": peak}))


def spawn(variant: str, mapping_path: Path, data: Path, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", variant, str(mapping_path), str(data), str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"{variant} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000_000)
    parser.add_argument("--country", default="THA")
    parser.add_argument("--no-se", action="store_true", help="skip the variant with sampling errors")
    parser.add_argument(
        "--no-docs", action="store_true", help=f"do not write the figures into {DOCS.relative_to(ROOT)}"
    )
    args = parser.parse_args()

    import pandas as pd
    import yaml

    from tests.support.microdata_synth import mapping_spec, synthetic_lfs, write_survey

    with tempfile.TemporaryDirectory(prefix="ilms-microdata-bench-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        frame = synthetic_lfs(args.country, args.persons, seed=1)
        data = write_survey(frame, tmp / f"{args.country}_LFS_2023.parquet")
        persons, size_mb = len(frame), data.stat().st_size / 1e6
        del frame
        generated = time.perf_counter() - started
        mapping_path = tmp / f"{args.country}_LFS.yaml"
        mapping_path.write_text(yaml.safe_dump(mapping_spec(args.country), sort_keys=False))
        print(
            f"synthetic LFS: {persons:,} persons ({args.country}), {size_mb:.0f} MB Parquet, written in {generated:.1f} s"
        )
        variants = ["duckdb", "pandas"] + ([] if args.no_se else ["duckdb+se"])
        results = {}
        for variant in variants:
            results[variant] = spawn(variant, mapping_path, data, tmp / f"{variant}.parquet")
            r = results[variant]
            print(f"  {variant:<10} {r['seconds']:7.1f} s   peak {r['peak_mib']:7.0f} MiB")
        duck = pd.read_parquet(tmp / "duckdb.parquet").set_index(["table_id", "sex", "classif1", "classif2"])
        pand = pd.read_parquet(tmp / "pandas.parquet").set_index(["table_id", "sex", "classif1", "classif2"])
        joined = duck.join(pand.add_suffix("_pandas"), how="outer")
        assert len(joined) == len(duck) == len(pand), "the two variants give different cells"
        same_n = (joined.n_obs == joined.n_obs_pandas).all()
        counts = joined[joined.index.get_level_values(0) != "earnings_employees"]
        rel = float(((counts.estimate - counts.estimate_pandas).abs() * 1000).max())  # persons
        print(
            f"  {len(duck)} cells in {duck.index.get_level_values(0).nunique()} tables; sample counts equal: {same_n}; "
            f"largest difference of a weighted count: {rel:.3f} persons"
        )
    speedup = results["pandas"]["seconds"] / results["duckdb"]["seconds"]
    print(f"DuckDB is {speedup:.1f}x faster than pandas")
    if not args.no_docs:
        write_docs(persons, size_mb, generated, results, speedup, len(duck), bool(same_n), float(rel))


def write_docs(persons, size_mb, generated, results, speedup, cells, same_n, rel) -> None:
    import duckdb
    import pandas as pd

    rows = "\n".join(f"| {v} | {r['seconds']:.1f} | {r['peak_mib']:.0f} |" for v, r in results.items())
    text = f"""{START}
Measured by `benchmarks/microdata.py` (written by the script itself) on {time.strftime("%Y-%m-%d")}: {persons:,} synthetic
person records (THA profile; {size_mb:.0f} MB Parquet, generated in {generated:.0f} s, not counted), every stock table of the
registry ({cells} cells), each variant in its own process from the Parquet file to every cell; peak = maximum
resident set size of the process. Python {platform.python_version()}, DuckDB {duckdb.__version__}, pandas {pd.__version__},
{platform.machine()} with 2 cores (shared).

| variant | seconds | peak MiB |
|---|---|---|
{rows}

DuckDB is **{speedup:.1f}x** faster than pandas. The two give the same cells (sample counts equal: {same_n}; largest
difference of a weighted count {rel:.3f} persons: DuckDB rounds each weight to a milli-person and sums integers,
exactly and in any row order, pandas sums the floats). Seconds count from the file to every cell, after the
imports (the same for both variants). `duckdb+se` adds the ultimate-cluster standard errors of every cell (the
persons' leaves materialised once, then PSU totals per table and basis).
{END}"""
    doc = DOCS.read_text()
    DOCS.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: text, doc, flags=re.S))
    print(f"Wrote the figures into {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
