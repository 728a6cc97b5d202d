"""Every performance benchmark, side by side in one run, each writing its table into
docs/performance.md (instance, overhead, reader, backfill, scale), and a line on the machine and its load.

Usage: uv run python benchmarks/performance.py [--quick]   (--quick: smaller scale and backfill, to try it out)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_section  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", help="run only these scripts (e.g. scale.py backfill.py)")
    args = parser.parse_args()
    quick = args.quick
    runs = [
        ["instance.py", "--repeat", "1" if quick else "3"],
        ["pool_wait.py"],
        ["overhead.py", "--repeat", "1" if quick else "4"],
        ["reader.py"],
        ["backfill.py", "--rounds", "2023-2024" if quick else "2015-2024"],
        [
            "scale.py",
            "--countries",
            *(["10", "20"] if quick else ["10", "50", "200"]),
            "--rounds",
            "2023-2024" if quick else "2015-2024",
        ],
    ]
    load_before, started = os.getloadavg()[0], time.monotonic()
    for script, *args in [r for r in runs if not args.only or r[0] in args.only]:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *args], check=True)
    write_section(
        "machine",
        (
            f"Figures of the run of `uv run python benchmarks/performance.py{' --quick' if quick else ''}` on "
            f"{datetime.now(UTC):%Y-%m-%d}: {os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, {time.monotonic() - started:.0f} s in all; load average "
            f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other work on the machine inflates "
            f"wall times; CPU times less so)."
        ),
    )


if __name__ == "__main__":
    main()
