"""CPU that `ilms run` spends waiting for the warehouse: a real run in pool duckdb_warehouse is in progress on a fresh
instance (shipped dagster.yaml); `ilms run --country THA` starts on the bundled samples and waits for it; its CPU
(user + system, psutil) is read over --seconds of waiting; then the holding run ends and `ilms run` must
load. Dagster 1.13's in-process executor spins a core while a step waits for a pool slot at op granularity; the
shipped dagster.yaml holds pools per run (docs/performance.md). Target: under a third of a core. Writes its line into
docs/performance.md (section pool-wait).

    uv run python benchmarks/pool_wait.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

import psutil  # noqa: E402
from harness import write_section  # noqa: E402

from ilms_dagster.orchestration.instance import SHIPPED_DAGSTER_YAML, instance_at  # noqa: E402
from tests.orchestration.test_recovery import start, wait_for_output, warehouse_held  # noqa: E402

TARGET = 1 / 3  # CPU seconds per second of waiting


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to measure the waiting run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ilms_pool_wait_"))
    try:
        home = root / "dagster_home"
        home.mkdir()
        shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
        with instance_at(home) as instance:
            with warehouse_held(instance, root / "hold"):
                process, log = start(root)
                try:
                    wait_for_output(process, log, "waiting for run")
                    before, started = cpu_seconds(process.pid), time.monotonic()
                    time.sleep(args.seconds)
                    used, waited = cpu_seconds(process.pid) - before, time.monotonic() - started
                    if process.poll() is not None:
                        raise SystemExit(f"the run ended while it should wait:\n{log.read_text()}")
                except BaseException:
                    process.kill()
                    raise
            code = process.wait(timeout=300)
        share = used / waited
        text = (
            f"`ilms run` waiting for a run that holds the warehouse: {used:.2f} s of CPU in {waited:.1f} s "
            f"({share:.0%} of a core; target < {TARGET:.0%}: {'met' if share < TARGET else 'NOT met'}); once "
            f"that run ended: {'loaded' if code == 0 else f'exit {code}'}."
        )
        print(text)
        write_section("pool-wait", text)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
