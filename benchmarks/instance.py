"""What the instance configuration costs: `ilms run --no-publish` on the ten samples of a round, and a backfill of
2 rounds x 10 countries through `dagster dev`'s GraphQL (as the UI's Materialize button), each against the bare
path (the project's functions without Dagster), on three dagster.yaml files side by side:

- stock: Dagster's default storage (SQLite run storage, a database per run and an index for events) and instance
  class; the project's pools and run queue;
- connections: the shipped storages (Dagster's SQLite run storage and consolidated event log, connected through
  ilms_dagster/orchestration/sqlite_connections.py), Dagster's instance class;
- shipped: the shipped dagster.yaml (the same, with the workaround instance of orchestration/dagster_workarounds.py).

Runs alternate (bare, stock, connections, shipped, bare, ...) so that a noisy moment hits all; the warehouses are
asserted equal. Prints the figures and writes them into docs/performance.md (sections instance-run and
instance-backfill).

Usage: uv run python benchmarks/instance.py [--repeat 3] [--round 2024] [--backfill-rounds 2023-2024] [--no-backfill]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import digest, fresh, ingest_events, measure, prepare_samples, write_section  # noqa: E402

from ilms_dagster.orchestration.instance import SHIPPED_DAGSTER_YAML  # noqa: E402
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS  # noqa: E402

VARIANTS = {
    "stock": ("run_storage", "event_log_storage", "instance_class"),
    "connections": ("instance_class",),
    "shipped": (),
}  # variant: the sections of the shipped dagster.yaml it leaves out


def dagster_yaml(variant: str) -> str:
    config = yaml.safe_load(SHIPPED_DAGSTER_YAML.read_text())
    for key in VARIANTS[variant]:
        config.pop(key)
    return yaml.safe_dump(config, sort_keys=False)


def seeded(folder: Path, variant: str) -> Path:
    (folder / "dagster_home").mkdir(parents=True, exist_ok=True)
    (folder / "dagster_home" / "dagster.yaml").write_text(dagster_yaml(variant))
    return folder


def ilms_run(tmp: Path, round_: str, repeat: int) -> str:
    template = prepare_samples(tmp, [round_])
    modes = ["bare", *VARIANTS]
    reports: dict[str, list[dict]] = {mode: [] for mode in modes}
    for i in range(repeat):
        for mode in modes:
            folder = fresh(template, tmp / f"{mode}-{i}")
            if mode == "bare":
                reports[mode].append(measure("bare", str(folder), f"{round_}:{','.join(REPORTING_COUNTRIES)}"))
            else:
                reports[mode].append(measure("ilms-run", str(seeded(folder, mode)), round_))
            reports[mode][-1]["folder"] = folder
            print(f"  {mode} {i + 1}/{repeat}: {reports[mode][-1]['cpu_s']:.1f} s CPU", flush=True)
    bare = digest(reports["bare"][0]["folder"] / "warehouse.duckdb")
    if any(digest(reports[m][0]["folder"] / "warehouse.duckdb") != bare for m in VARIANTS):
        raise SystemExit("the variants built different warehouses: the comparison is void")
    n = len(REPORTING_COUNTRIES)

    def med(mode: str, key: str, scale: float = 1) -> float:
        return statistics.median(r[key] for r in reports[mode]) * scale

    lines = [
        f"`ilms run --no-publish`, round {round_}, {n} partitions, median of {repeat} runs of each "
        "(warehouses identical):",
        "",
        "| measure | bare path | stock | connections | shipped | stock / bare | shipped / bare |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key, scale, fmt in (
        ("wall, whole process (s)", "process_wall_s", 1, "{:.1f}"),
        ("CPU (s)", "cpu_s", 1, "{:.1f}"),
        ("written to storage (MB)", "write_bytes", 2**-20, "{:.1f}"),
    ):
        values = [med(m, key, scale) for m in modes]
        b, s, _, d = values
        lines.append(
            f"| {label} | "
            + " | ".join(fmt.format(v) for v in values)
            + (f" | {s / b:.2f}x | {d / b:.2f}x |" if b else " | - | - |")
        )
    for mode in VARIANTS:
        pairs = [d["cpu_s"] / b["cpu_s"] for b, d in zip(reports["bare"], reports[mode], strict=True)]
        runs, events, partitions = ingest_events(reports[mode][0]["folder"] / "dagster_home")
        lines.append(
            f"\n{mode}: CPU / bare by pair {', '.join(f'{r:.2f}x' for r in pairs)}; "
            f"{events / partitions:.0f} events per partition ({events} in {runs} run(s))."
        )
    return "\n".join(lines)


def backfill(tmp: Path, rounds: list[str]) -> str:
    from backfill import run_variant

    ensure = prepare_samples(tmp / "backfill", rounds) / "samples"
    results = {
        v: run_variant("defined", "defined", tmp / f"backfill-{v}", ensure, rounds, dagster_yaml(v))
        for v in ("stock", "shipped")
    }
    root = tmp / "backfill-bare"
    shutil.copytree(ensure, root / "inbox")
    bare = measure("bare-ingest", str(root), *[f"{r}:{','.join(REPORTING_COUNTRIES)}" for r in rounds])
    ingested = ("raw", "ilmq")
    if any(
        digest(tmp / f"backfill-{v}" / "warehouse.duckdb", ingested) != digest(root / "warehouse.duckdb", ingested)
        for v in results
    ):
        raise SystemExit("a backfill and the bare path built different tables")
    if any(r["landed"] != r["partitions"] or r["lock_errors"] for r in results.values()):
        raise SystemExit("some partitions did not land in DuckDB, or a run hit a DuckDB lock error")
    lines = [
        f"Backfill of {len(rounds)} rounds x {len(REPORTING_COUNTRIES)} countries through `dagster dev`'s GraphQL "
        f"API (every run asserted to be the backfill's) against the bare path ({bare['process_wall_s']:.0f} s wall):",
        "",
        "| dagster.yaml | runs | wall | wall / bare | daemon: launch -> first run start | last run end -> "
        "backfill done |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for v, r in results.items():
        lines.append(
            f"| {v} | {r['runs']} | {r['wall']:.0f} s | {r['wall'] / bare['process_wall_s']:.2f}x | "
            f"{r['to_first_start']:.0f} s | {r['after_last_end']:.0f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round", default=ROUNDS[-1])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backfill-rounds", default="2023-2024")
    parser.add_argument("--no-backfill", action="store_true")
    args = parser.parse_args()
    first, _, last = args.backfill_rounds.partition("-")
    with tempfile.TemporaryDirectory(prefix="ilms-instance-") as tmp:
        text = ilms_run(Path(tmp), args.round, args.repeat)
        print(text, flush=True)
        write_section("instance-run", text)
        if not args.no_backfill:
            text = backfill(Path(tmp), [str(r) for r in range(int(first), int(last or first) + 1)])
            print(text)
            write_section("instance-backfill", text)


if __name__ == "__main__":
    main()
