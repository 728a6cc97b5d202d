"""Scale: 10, 50 and 200 countries x 10 rounds of generated submissions (the ten samples of each round under
fake ISO3 codes XAA, XAB, ...), each through the bare path (every partition, then the models), then the latest
round again through Dagster (`ilms run`, one run over every country: at least 200 partitions at the largest
scale) on that warehouse. Prints per-partition CPU both ways, peak memory, the models' build time and the
README analyst queries' latency on each warehouse; writes the table into docs/performance.md.

Usage: uv run python benchmarks/scale.py [--countries 10 50 200] [--rounds 2015-2024]
"""

from __future__ import annotations

import argparse
import io
import itertools
import shutil
import statistics
import string
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import duckdb  # noqa: E402
from harness import ingest_run_seconds, measure, prepare_samples, write_section  # noqa: E402
from test_models_samples import readme_queries  # noqa: E402  (the README's queries, as its test reads them)

from ilms_dagster.registry import REPORTING_COUNTRIES  # noqa: E402

FAKE = ["X" + a + b for a, b in itertools.product(string.ascii_uppercase, repeat=2)]


def renamed(workbook: bytes, old: str, new: str) -> bytes:
    """The same workbook from country `new`: the Metadata country cell is the only cell whose text is `old`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".xml"):
                data = data.replace(f"<t>{old}</t>".encode(), f"<t>{new}</t>".encode())
            dst.writestr(info, data)
    return out.getvalue()


def generate(template: Path, target: Path, countries: int, rounds: list[str]) -> list[str]:
    """An inbox of `countries` per round, cycling over the samples' ten profiles; returns the country codes."""
    codes = FAKE[:countries]
    for round_ in rounds:
        folder = target / "inbox" / round_
        folder.mkdir(parents=True)
        for code, base in zip(codes, itertools.cycle(REPORTING_COUNTRIES)):
            sample = template / "samples" / round_ / f"{base}_ILMQ_{round_}.xlsx"
            (folder / f"{code}_ILMQ_{round_}.xlsx").write_bytes(renamed(sample.read_bytes(), base, code))
    return codes


def query_latency(warehouse: Path, repeat: int = 5) -> list[float]:
    """Median seconds of each README analyst query on a read-only connection (after one warm-up run)."""
    out = []
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for sql in readme_queries():
            conn.execute(sql).fetchall()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                conn.execute(sql).fetchall()
                times.append(time.perf_counter() - started)
            out.append(statistics.median(times))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--countries", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--rounds", default="2015-2024")
    args = parser.parse_args()
    first, _, last = args.rounds.partition("-")
    rounds = [str(r) for r in range(int(first), int(last or first) + 1)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ilms-scale-") as tmp:
        template = prepare_samples(Path(tmp), rounds)
        for n in args.countries:
            folder = Path(tmp) / f"scale-{n}"
            codes = generate(template, folder, n, rounds)
            bare = measure("bare", str(folder), *[f"{r}:{','.join(codes)}" for r in rounds])
            dagster = measure("ilms-run", str(folder), rounds[-1], *codes)
            dagster["run_s"] = ingest_run_seconds(folder / "dagster_home")
            latency = query_latency(folder / "warehouse.duckdb")
            size = (folder / "warehouse.duckdb").stat().st_size / 2**20
            rows.append((n, len(codes) * len(rounds), bare, dagster, latency, size))
            print(f"{n} countries: bare {bare['cpu_s']:.0f} s CPU for {len(codes) * len(rounds)} partitions, "
                  f"Dagster {dagster['cpu_s']:.0f} s CPU for {len(codes)}", flush=True)
            shutil.rmtree(folder)
            write_section("scale", table(rows, rounds))  # after every scale: a cut-short run keeps what it measured
    print(table(rows, rounds))


def table(rows: list, rounds: list[str]) -> str:
    base = rows[0]
    lines = [f"Generated submissions, {len(rounds)} rounds ({rounds[0]}-{rounds[-1]}); bare path = every partition then "
             "the models, one process; Dagster = `ilms run` of the latest round on that warehouse (every country in "
             "one run), CPU of the whole process over its partitions:", "",
             "| countries | partitions | bare, per partition | Dagster run, per partition | vs the first scale (bare, "
             "Dagster) | `ilms run` CPU, whole process | peak memory bare / Dagster | models build | README queries, "
             "slowest (median) | warehouse |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for n, parts, bare, dagster, latency, size in rows:
        b, d = bare["ingest_s"] / parts, dagster["run_s"] / n
        b0, d0 = base[2]["ingest_s"] / base[1], base[3]["run_s"] / base[0]
        lines.append(f"| {n} | {parts} | {b:.3f} s | {d:.3f} s ({n} partitions) | {b / b0:.2f}x, {d / d0:.2f}x | "
                     f"{dagster['cpu_s']:.0f} s ({dagster['cpu_s'] / n:.2f} s a partition) | "
                     f"{bare['peak_rss_mb']:.0f} / {dagster['peak_rss_mb']:.0f} MB | {bare['models_s']:.1f} s | "
                     f"{max(latency) * 1000:.0f} ms ({statistics.median(latency) * 1000:.0f} ms) | {size:.0f} MB |")  # fmt: skip
    lines += ["", "Bare, per partition: the ingest's wall time in one process (parse, suites, load, rules, feedback; "
              "single-threaded, so CPU), imports and models excluded. Dagster run, per partition: the ingestion run's "
              "wall time (start to end, as the instance records it) over its partitions. `ilms run` CPU: the whole "
              "process, imports, the models job and the summary included."]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
