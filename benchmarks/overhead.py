"""Dagster's share of the main command: `ilms run --no-publish` on the ten samples of a round against the bare
path (the same project functions called without Dagster), each in a fresh process and data folder, the
warehouses asserted equal; then one `ilms run` with the round's publication, as a user runs it. Prints wall, CPU, peak memory, events and bytes written, with ratios; writes the table into
docs/performance.md.

Usage: uv run python benchmarks/overhead.py [--round 2024] [--repeat 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import README, digest, fresh, ingest_events, measure, prepare_samples, write_section  # noqa: E402

from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round", default=ROUNDS[-1])
    parser.add_argument("--repeat", type=int, default=4, help="runs of each path (the median is reported)")
    args = parser.parse_args()
    n = len(REPORTING_COUNTRIES)
    with tempfile.TemporaryDirectory() as tmp:
        template = prepare_samples(Path(tmp), [args.round])
        reports: dict[str, list[dict]] = {"bare": [], "ilms-run": []}
        for i in range(args.repeat):
            for mode in reports:  # alternate, so that a noisy moment hits both
                folder = fresh(template, Path(tmp) / f"{mode}-{i}")
                extra = [f"{args.round}:{','.join(REPORTING_COUNTRIES)}"] if mode == "bare" else [args.round]
                reports[mode].append(measure(mode, str(folder), *extra) | {"folder": folder, "args": extra})
        # `ilms run` as a user runs it, the round's publication included (which the bare path does not do)
        whole = measure("ilms-run-publish", str(fresh(template, Path(tmp) / "ilms-run-publish")), args.round)
        bare_dir, dagster_dir = reports["bare"][0]["folder"], reports["ilms-run"][0]["folder"]
        same = digest(bare_dir / "warehouse.duckdb") == digest(dagster_dir / "warehouse.duckdb")
        runs, events, partitions = ingest_events(dagster_dir / "dagster_home")
        # the same command again in the first folders: the instance exists, the round is re-ingested as it was
        again = {mode: measure(mode, str(reports[mode][0]["folder"]), *reports[mode][0]["args"]) for mode in reports}
    if not same:
        raise SystemExit("the bare path and `ilms run` built different warehouses: the comparison is void")

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in reports[mode])

    rows = [
        ("wall, whole process (s)", "process_wall_s", "{:.1f}"),
        ("CPU, all threads (s)", "cpu_s", "{:.1f}"),
        ("peak memory (MB)", "peak_rss_mb", "{:.0f}"),
        ("written to storage (MB)", "write_bytes", "{:.1f}"),
        ("written through write() (MB)", "wchar", "{:.1f}"),
    ]
    lines = [
        f"`ilms run` vs the bare path, round {args.round}, {n} partitions, median of {args.repeat} runs each "
        f"(warehouses identical: {same}):",
        "",
        "| measure | bare path | `ilms run` (Dagster) | Dagster / bare |",
        "|---|---|---|---|",
    ]
    for label, key, fmt in rows:
        scale = 1 / 2**20 if key in ("write_bytes", "wchar") else 1
        b, d = med("bare", key) * scale, med("ilms-run", key) * scale
        lines.append(
            f"| {label} | {fmt.format(b)} | {fmt.format(d)} | {d / b:.2f}x |"
            if b
            else f"| {label} | {fmt.format(b)} | {fmt.format(d)} | - |"
        )
    b, d = again["bare"]["cpu_s"], again["ilms-run"]["cpu_s"]
    lines.append(
        f"| CPU, the same command again in the same data folder (the instance exists; one run) (s) | {b:.1f} | {d:.1f} | {d / b:.2f}x |"
    )
    lines.append(
        f"| `ilms run` with the round's publication (charts, release workbook, pages, report PDF): wall, CPU of its own process (s) "
        f"| - | {whole['process_wall_s']:.1f}, {whole['cpu_s']:.1f} | - |"
    )
    lines += [
        "",
        "Where the CPU goes (seconds, median of the runs; the bare path has no instance):",
        "",
        "| phase | bare path | `ilms run` (Dagster) | Dagster - bare |",
        "|---|---|---|---|",
    ]
    for label, phase in PHASES:
        b, d = (statistics.median(phase_cpu(r, phase) for r in reports[mode]) for mode in ("bare", "ilms-run"))
        lines.append(f"| {label} | {b:.2f} | {d:.2f} | {d - b:+.2f} |")
    pairs = [d["cpu_s"] / b["cpu_s"] for b, d in zip(reports["bare"], reports["ilms-run"], strict=True)]
    lines += [
        "",
        f"CPU ratio of each pair of runs (a bare run and the `ilms run` right after it, so that both meet the "
        f"machine in the same state): {', '.join(f'{r:.2f}x' for r in pairs)}; median {statistics.median(pairs):.2f}x.",
    ]
    per_partition = med("ilms-run", "write_bytes") / n / 2**20
    lines += [
        "",
        f"Dagster events: {events} in {runs} ingestion run(s) for {partitions} partitions = "
        f"**{events / partitions:.0f} events per partition**; written to storage per partition: "
        f"{per_partition:.1f} MB (bare {med('bare', 'write_bytes') / n / 2**20:.1f} MB).",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("overhead", text)
    write_section("main-output", "```\n" + abridged(whole["output"]) + "\n```", doc=README)


PHASES = [
    ("start-up and imports", "imports"),
    ("Dagster instance (opened; created, in a fresh data folder)", "instance"),
    ("ingestion (one run over the round's partitions)", "ingestion"),
    ("models (every SQL model, read copy)", "models"),
    ("the rest (inbox scan, summary)", "rest"),
]


def phase_cpu(report: dict, phase: str) -> float:
    """A run's CPU in one phase; "rest" is what its process used outside the other phases."""
    phases = report["cpu_phases"]
    if phase == "rest":
        return report["cpu_s"] - sum(v for k, v in phases.items() if k != "rest")
    return phases.get(phase, 0.0)


def abridged(output: list[str]) -> str:
    """`ilms run`'s report without its warehouse table: the first and last partitions' lines, the timings and
    the closing summary."""
    lines = [line.rstrip() for line in output if line.strip()]
    status = [i for i, line in enumerate(lines) if line.startswith("  ") and ": " in line and line.split()[0].isupper()]
    keep = (
        lines[status[0] : status[0] + 2] + ["  ..."] + lines[status[-1] - 1 : status[-1] + 1] if len(status) > 4 else []
    )
    timings = [line for line in lines if "partitions in" in line or line.startswith("  models")]
    closing = lines[next(i for i, line in enumerate(lines) if " submissions from " in line) :]
    return "\n".join(keep + timings + closing)


if __name__ == "__main__":
    main()
