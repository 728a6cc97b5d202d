"""Start-up of the analysts' commands: wall seconds of `ilms --help`, `ilms sql "SELECT 1"` and, for scale,
`python -c "import duckdb"`, each in a fresh interpreter, several runs, the median; printed side by side and written
to docs/performance.md between `<!-- startup:begin -->` and `<!-- startup:end -->`.

    uv run python benchmarks/startup.py               # 7 runs of each, writes docs/performance.md
    uv run python benchmarks/startup.py --runs 3 --print

Targets (issue 32): `ilms sql "SELECT 1"` <= 1.5 s and `ilms --help` <= 1 s on a quiet 2-core machine.
`tests/cli/test_startup.py` checks what these commands import (no Dagster, no pandas); this script measures time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- startup:begin -->", "<!-- startup:end -->"
ILMS = [sys.executable, "-m", "ilms_dagster.cli"]
COMMANDS = {  # label: (argv, target seconds)
    "ilms --help": ([*ILMS, "--help"], 1.0),
    'ilms sql "SELECT 1"': ([*ILMS, "sql", "SELECT 1"], 1.5),
    'python -c "import duckdb"': ([sys.executable, "-c", "import duckdb"], None),
}


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    """Wall seconds of `runs` runs (after one warm-up run that fills the file cache); a failed run is an error."""
    seconds = []
    for i in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        if i:
            seconds.append(elapsed)
    return seconds


def table(results: dict[str, list[float]]) -> str:
    lines = ["| command | median (s) | min - max (s) | target |", "|---|---:|---:|---|"]
    for label, seconds in results.items():
        target = COMMANDS[label][1]
        verdict = (
            "" if target is None else f"<= {target:g} s: {'met' if statistics.median(seconds) <= target else 'NOT met'}"
        )
        lines.append(
            f"| `{label}` | {statistics.median(seconds):.2f} | {min(seconds):.2f} - {max(seconds):.2f} | {verdict} |"
        )
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    if BEGIN not in doc:
        doc = doc.rstrip("\n") + "\n\n" + SECTION.format(block=f"{BEGIN}\n{END}") + "\n"
    head, rest = doc.split(BEGIN, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}")


SECTION = """## Start-up of the analyst commands

`uv run python benchmarks/startup.py` starts each command in a fresh interpreter (one warm-up run, then several
runs; the median) on an empty warehouse file, beside `python -c "import duckdb"`, the floor any DuckDB command pays.
The analysts' commands (`ilms --help`, `ilms sql`, `ilms export`) import neither Dagster nor pandas: each command
imports what it uses when it runs (`tests/cli/test_startup.py` checks the modules imported, not the time).

{block}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--print", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ilms_startup_") as tmp:
        import duckdb

        warehouse = Path(tmp) / "warehouse.duckdb"
        duckdb.connect(str(warehouse)).close()
        env = os.environ | {"ILMS_DATA_DIR": tmp, "ILMS_WAREHOUSE": str(warehouse)}
        results = {label: timed(argv, env, args.runs) for label, (argv, _) in COMMANDS.items()}
    block = table(results)
    cpus = os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    note = (
        f"{date.today().isoformat()}, {args.runs} runs each, Python {platform.python_version()}, {cpus} cores, "
        f"load average {load} (1, 5, 15 min) at the end."
    )
    print(block)
    print(note)
    if not args.print:
        write_doc(f"{block}\n\n{note}")
        print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
