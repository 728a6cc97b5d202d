"""Scale: 10, 50 and 200 countries x 10 rounds of generated submissions (the figures of the ten samples of each
round in the template of fake ISO3 codes XAA, XAB, ...). The earlier rounds are loaded first; then the latest
round, every country (at least 200 partitions at the largest scale), goes through the bare path and through
Dagster (`ilms run`, one run over every country) on two copies of that warehouse. Prints per-partition cost both
ways, peak memory, the models' build time and the README analyst queries' latency on each warehouse; writes the
table into docs/performance.md.

Usage: uv run python benchmarks/scale.py [--countries 10 50 200] [--rounds 2015-2024] [--section scale]
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import duckdb  # noqa: E402
from harness import digest, ingest_run_seconds, measure, write_section  # noqa: E402

from ilms_dagster.questionnaire.samples import sample_values  # noqa: E402
from ilms_dagster.questionnaire.template import write_workbook  # noqa: E402
from ilms_dagster.registry import REPORTING_COUNTRIES  # noqa: E402
from tests.models.test_models_samples import readme_queries  # noqa: E402  (the README's queries, as its test reads them)

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


def profile_workbook(template: Path, base: str, round_: str) -> bytes:
    """Sample `base`'s figures of `round_` in the template of a country that is no usual partner (FAKE[0]): a
    sample itself cannot be renamed, its template leaves out its own country's partner row. Written once."""
    path = template / "fake" / round_ / f"{base}.xlsx"
    if not path.exists():
        values, metadata = sample_values(base, round_)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_workbook(path, FAKE[0], round_, values=values, metadata=metadata)
    return path.read_bytes()


def generate(template: Path, target: Path, countries: int, rounds: list[str]) -> list[str]:
    """An inbox of `countries` per round, cycling over the samples' ten profiles; returns the country codes."""
    codes = FAKE[:countries]
    for round_ in rounds:
        folder = target / "inbox" / round_
        folder.mkdir(parents=True)
        for code, base in zip(codes, itertools.cycle(REPORTING_COUNTRIES)):
            workbook = profile_workbook(template, base, round_)
            (folder / f"{code}_ILMQ_{round_}.xlsx").write_bytes(renamed(workbook, FAKE[0], code))
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
    parser.add_argument("--section", default="scale", help="the docs/performance.md section to write (default scale)")
    args = parser.parse_args()
    first, _, last = args.rounds.partition("-")
    rounds = [str(r) for r in range(int(first), int(last or first) + 1)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ilms-scale-") as tmp:
        template = Path(tmp) / "template"
        for n in args.countries:
            folder = Path(tmp) / f"scale-{n}"
            codes = generate(template, folder, n, rounds)
            started = time.perf_counter()
            measure("bare-build", str(folder), *[f"{r}:{','.join(codes)}" for r in rounds[:-1]])
            built = time.perf_counter() - started
            bare_dir, dagster_dir = Path(tmp) / f"bare-{n}", Path(tmp) / f"dagster-{n}"
            shutil.copytree(folder, bare_dir)
            shutil.copytree(folder, dagster_dir)
            shutil.rmtree(folder)
            bare = measure("bare", str(bare_dir), f"{rounds[-1]}:{','.join(codes)}")
            dagster = measure("ilms-run", str(dagster_dir), rounds[-1], *codes)
            dagster["run_s"] = ingest_run_seconds(dagster_dir / "dagster_home")
            same = digest(bare_dir / "warehouse.duckdb", ("raw", "ilmq")) == digest(
                dagster_dir / "warehouse.duckdb", ("raw", "ilmq")
            )
            if not same:
                raise SystemExit(f"{n} countries: the bare path and `ilms run` loaded different data")
            latency = query_latency(bare_dir / "warehouse.duckdb")
            size = (bare_dir / "warehouse.duckdb").stat().st_size / 2**20
            rows.append((n, len(codes) * len(rounds), bare, dagster, latency, size, built))
            print(
                f"{n} countries: bare {bare['ingest_s'] / n:.3f} s, Dagster {dagster['run_s'] / n:.3f} s a partition "
                f"of round {rounds[-1]} ({len(codes) * len(rounds)} partitions in the warehouse, built in "
                f"{built:.0f} s)",
                flush=True,
            )
            shutil.rmtree(bare_dir)
            shutil.rmtree(dagster_dir)
            write_section(
                args.section, table(rows, rounds)
            )  # after every scale: a cut-short run keeps what it measured
    print(table(rows, rounds))


def table(rows: list, rounds: list[str]) -> str:
    base = rows[0]
    lines = [
        f"Generated submissions, {len(rounds)} rounds ({rounds[0]}-{rounds[-1]}): rounds {rounds[0]}-{rounds[-2]} "
        f"loaded first (the bare path, staging in two processes), then round {rounds[-1]}, every country, through "
        "the bare path (one process, then the models) and through `ilms run` (one Dagster run over every "
        "country, then the models job), each on its own copy of that warehouse; both loaded the same data "
        "(asserted):",
        "",
        "| countries | partitions in the warehouse | bare, per partition | Dagster run, per partition | Dagster / bare "
        "| vs the first scale (bare, Dagster) | `ilms run` CPU, whole process | peak memory bare / Dagster "
        "| models build | README queries, slowest (median) | warehouse |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, parts, bare, dagster, latency, size, _ in rows:
        b, d = bare["ingest_s"] / n, dagster["run_s"] / n
        b0, d0 = base[2]["ingest_s"] / base[0], base[3]["run_s"] / base[0]
        lines.append(
            f"| {n} | {parts} | {b:.3f} s | {d:.3f} s | {d / b:.2f}x | {b / b0:.2f}x, {d / d0:.2f}x | "
            f"{dagster['cpu_s']:.0f} s ({dagster['cpu_s'] / n:.2f} s a partition) | "
            f"{bare['peak_rss_mb']:.0f} / {dagster['peak_rss_mb']:.0f} MB | {bare['models_s']:.1f} s | "
            f"{max(latency) * 1000:.0f} ms ({statistics.median(latency) * 1000:.0f} ms) | {size:.0f} MB |"
        )
    lines += [
        "",
        f"Per partition: the ingest of round {rounds[-1]} divided by its partitions; bare: its wall time in one "
        "process (parse, suites, load, rules, feedback, read copy; single-threaded, so CPU), imports and models "
        "excluded; Dagster: the ingestion run's wall time (start to end, as the instance records it). `ilms run` "
        "CPU: the whole process, imports, the models job and the summary included. Models build and README "
        "queries: on the bare path's warehouse (every round, every country).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
