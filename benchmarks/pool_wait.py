"""CPU that `ilms run` spends waiting for the warehouse slot (moved here from tests/test_recovery.py: the project's
tests assert behaviour, benchmarks measure time).

    uv run python benchmarks/pool_wait.py [--seconds 10]

The one slot of pool duckdb_warehouse is claimed through a fresh instance (shipped dagster.yaml), as another run's
load would; `ilms run --country THA` starts on the bundled samples and queues for the slot; its CPU (utime + stime,
/proc/<pid>/stat) is read over --seconds of waiting; then the slot is freed and the run must load. Dagster 1.13's
executor loop spun a core while a step waited for a pool slot (ilms_dagster/pool_wait.py); the target is under a
third of a core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import dagster as dg  # noqa: E402

from ilms_dagster.instance import SHIPPED_DAGSTER_YAML  # noqa: E402
from ilms_dagster.resources.warehouse import WAREHOUSE_POOL  # noqa: E402
from test_recovery import start  # noqa: E402

TARGET = 1 / 3  # CPU seconds per second of waiting


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to measure the waiting run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ilms_pool_wait_"))
    try:
        home = root / "dagster_home"
        home.mkdir()
        shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            storage = instance.event_log_storage
            storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
            assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "another-run", "its_load").is_claimed
            process, log = start(root)
            try:
                deadline = time.monotonic() + 300
                while not storage.get_concurrency_info(WAREHOUSE_POOL).pending_run_ids:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"the run never queued for the slot:\n{log.read_text()}")
                    time.sleep(0.2)
                before, started = cpu_seconds(process.pid), time.monotonic()
                time.sleep(args.seconds)
                used, waited = cpu_seconds(process.pid) - before, time.monotonic() - started
                if process.poll() is not None:
                    raise SystemExit(f"the run ended while it should wait:\n{log.read_text()}")
                storage.free_concurrency_slot_for_step("another-run", "its_load")
                code = process.wait(timeout=300)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        share = used / waited
        print(f"ilms run waiting for the warehouse slot: {used:.2f} s of CPU in {waited:.1f} s ({share:.0%} of a core; "
              f"target < {TARGET:.0%}: {'met' if share < TARGET else 'NOT met'}); after the slot was freed: "
              f"{'loaded' if code == 0 else f'exit {code}'}")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
