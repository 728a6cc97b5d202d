"""Runs that die release what they hold, and analysts never block the pipeline: `ilms run` as a real
subprocess on the bundled samples (one country), SIGKILLed by PID at chosen stages, and read by other processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ilms_dagster.instance import SHIPPED_DAGSTER_YAML
from ilms_dagster.resources.warehouse import WAREHOUSE_POOL, content_digest, read_copy_path

pytestmark = pytest.mark.slow
COUNTRY = "THA"


def _env(root: Path, **extra: str) -> dict[str, str]:
    return os.environ | {"ILMS_DATA_DIR": str(root), "ILMS_INBOX": str(root / "inbox"),
                         "ILMS_WAREHOUSE": str(root / "warehouse.duckdb"), "DAGSTER_HOME": str(root / "dagster_home"),
                         "COLUMNS": "200"} | extra  # fmt: skip


def start(root: Path, **extra: str) -> tuple[subprocess.Popen, Path]:
    home = root / "dagster_home"
    if not home.exists():  # created here, once, so that the test's own look at the instance never races its set-up
        home.mkdir(parents=True)
        shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
        dg.DagsterInstance.from_config(str(home)).dispose()
    log = root / f"ilms_run_{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "ilms_dagster.cli", "run", "--country", COUNTRY],
                                   env=_env(root, **extra), stdout=out, stderr=subprocess.STDOUT, cwd=root)  # fmt: skip
    return process, log


def run(root: Path, **extra: str) -> tuple[int, str]:
    process, log = start(root, **extra)
    return process.wait(timeout=600), log.read_text()


def digest(root: Path, path: Path | None = None) -> str:
    with duckdb.connect(str(path or root / "warehouse.duckdb"), read_only=True) as conn:
        return content_digest(conn)


def stage(instance: dg.DagsterInstance) -> str | None:
    """Where the running `ilms run` is: "intake" (parsing, no slot held), "load" or "models" (holding the pool slot)."""
    running = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    if not running:
        return None
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    holders = {slot.run_id for slot in info.claimed_slots}
    for r in running:
        if r.run_id in holders:
            return "models" if r.job_name == "build_models" else "load"
    if any(r.job_name == "ingest_submissions" for r in running):
        return "intake"
    return None


def kill_at(root: Path, wanted: str, timeout: float = 300) -> str:
    """Start `ilms run`, SIGKILL it (by PID) as soon as it reaches `wanted`; its output."""
    process, log = start(root)
    deadline = time.monotonic() + timeout
    home = root / "dagster_home"
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                if stage(instance) == wanted:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
                    return log.read_text()
        except Exception:  # the instance's SQLite is being written: look again
            pass
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"ilms run never reached {wanted!r} (exit {process.wait()}):\n{log.read_text()}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, str]:
    """An uninterrupted `ilms run` and the content digest of its warehouse."""
    root = tmp_path_factory.mktemp("reference")
    code, out = run(root)
    assert code == 0, out
    assert digest(root) == digest(root, read_copy_path(root / "warehouse.duckdb"))  # the read copy is the warehouse
    return root, digest(root)


def test_a_run_killed_at_any_stage_never_blocks_the_next_and_the_end_state_is_an_uninterrupted_runs(tmp_path, reference):
    for wanted in ("intake", "load", "models"):
        out = kill_at(tmp_path, wanted)
        assert "Traceback" not in out
    code, out = run(tmp_path)
    assert code == 0, out
    assert "Recovered run" in out and "marked failed, pool slots freed" in out
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert not instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
    assert digest(tmp_path) == reference[1]
    assert digest(tmp_path, read_copy_path(tmp_path / "warehouse.duckdb")) == reference[1]


ANALYST = """
import duckdb, sys, time
conn = duckdb.connect(sys.argv[1], read_only=True)
print(conn.execute("SELECT count(*) FROM raw.submissions").fetchone()[0], flush=True)
while True:
    conn.execute("SELECT count(*) FROM marts.stocks").fetchone()
    time.sleep(0.2)
"""


def test_an_analyst_holding_the_read_copy_through_a_whole_run_does_not_fail_it(reference):
    root, _ = reference
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(read_copy_path(root / "warehouse.duckdb"))],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert analyst.stdout.readline().strip() == "1"
        code, out = run(root)
        assert code == 0, out
        assert analyst.poll() is None  # still reading, undisturbed
    finally:
        analyst.kill()
        analyst.wait()
    assert digest(root) == reference[1]


def test_a_holder_of_the_warehouse_itself_gets_a_clear_error_naming_its_pid(reference):
    root, _ = reference
    holder = subprocess.Popen([sys.executable, "-c", ANALYST, str(root / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "1"
        code, out = run(root, ILMS_LOCK_WAIT_SECONDS="2")
    finally:
        holder.kill()
        holder.wait()
    text = " ".join(out.split())
    assert code == 1
    assert f"is held by another process, PID {holder.pid}" in text and "retries (ILMS_LOCK_WAIT_SECONDS)" in text
    assert "dagster._core" not in out and "Traceback" not in out


def test_a_run_waiting_for_the_warehouse_slot_sleeps_and_loads_once_the_slot_is_freed(tmp_path):
    """The one slot of pool duckdb_warehouse is held (claimed here through the instance, as another run's load
    would): `ilms run` waits for it, then takes the freed slot and loads. The CPU it spends waiting (Dagster 1.13's
    executor loop spun a core: ilms_dagster/pool_wait.py) is measured by benchmarks/pool_wait.py, not here."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "another-run", "its_load").is_claimed
        process, log = start(tmp_path)
        try:
            deadline = time.monotonic() + 300
            while not storage.get_concurrency_info(WAREHOUSE_POOL).pending_run_ids and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()
                time.sleep(0.2)
            assert storage.get_concurrency_info(WAREHOUSE_POOL).pending_run_ids, log.read_text()
            time.sleep(2)
            assert process.poll() is None, log.read_text()  # still waiting, not failed
            storage.free_concurrency_slot_for_step("another-run", "its_load")
            assert process.wait(timeout=300) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT ref_area FROM raw.submissions").fetchall() == [(COUNTRY,)]

