"""Runs that die release what they hold, and analysts never block the pipeline: `ilms run` as a real
subprocess on the bundled samples (one country), SIGKILLed by PID at chosen stages, and read by other processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ilms_dagster.orchestration.instance import SHIPPED_DAGSTER_YAML, instance_at
from ilms_dagster.resources.warehouse import WAREHOUSE_POOL, content_digest, read_copy_path

pytestmark = pytest.mark.slow
COUNTRY = "THA"


def _env(root: Path, **extra: str) -> dict[str, str]:
    return (
        os.environ
        | {
            "ILMS_DATA_DIR": str(root),
            "ILMS_INBOX": str(root / "inbox"),
            "ILMS_WAREHOUSE": str(root / "warehouse.duckdb"),
            "DAGSTER_HOME": str(root / "dagster_home"),
            "COLUMNS": "200",
        }
        | extra
    )


def start(root: Path, **extra: str) -> tuple[subprocess.Popen, Path]:
    home = root / "dagster_home"
    if not home.exists():  # created here, once, so that the test's own look at the instance never races its set-up
        home.mkdir(parents=True)
        shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
        instance_at(home).dispose()
    log = root / f"ilms_run_{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ilms_dagster.cli", "run", "--country", COUNTRY],
            env=_env(root, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    return process, log


def run(root: Path, **extra: str) -> tuple[int, str]:
    process, log = start(root, **extra)
    return process.wait(timeout=600), log.read_text()


def digest(root: Path, path: Path | None = None) -> str:
    with duckdb.connect(str(path or root / "warehouse.duckdb"), read_only=True) as conn:
        return content_digest(conn)


def stage(instance: dg.DagsterInstance) -> str | None:
    """Where the running `ilms run` is: "intake" (parsing), "load" or "models" (writing the warehouse), by the
    step its run started last."""
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        steps = [
            e.dagster_event.step_key for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        ]
        if steps:
            return "models" if run.job_name == "build_models" else "load" if steps[-1] == "ilmq_tables" else "intake"
    return None


def kill_at(root: Path, wanted: str, timeout: float = 300) -> str:
    """Start `ilms run`, SIGKILL it (by PID) as soon as it reaches `wanted`; its output."""
    process, log = start(root)
    deadline = time.monotonic() + timeout
    home = root / "dagster_home"
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with instance_at(home) as instance:
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


def test_a_run_killed_at_any_stage_never_blocks_the_next_and_the_end_state_is_an_uninterrupted_runs(
    tmp_path, reference
):
    for wanted in ("intake", "load", "models"):
        out = kill_at(tmp_path, wanted)
        assert "Traceback" not in out
    code, out = run(tmp_path)
    assert code == 0, out
    assert "Recovered run" in out and "marked failed, pool slots freed" in out
    with instance_at(tmp_path / "dagster_home") as instance:
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
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(read_copy_path(root / "warehouse.duckdb"))],
        stdout=subprocess.PIPE,
        text=True,
    )
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
    holder = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(root / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True
    )
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


HOLD = Path(os.environ.get("TMPDIR", "/tmp"))  # set by `warehouse_held`: the file whose presence keeps the pool held


@dg.asset(pool=WAREHOUSE_POOL)
def holds_the_warehouse() -> None:
    """A run in the warehouse pool that goes on while its hold file exists (as another run's load would)."""
    while HOLD.exists():
        time.sleep(0.1)


@contextmanager
def warehouse_held(instance: dg.DagsterInstance, hold: Path, timeout: float = 120):
    """A real run in pool duckdb_warehouse, in progress (in a thread) on `instance` until the context ends."""
    global HOLD
    HOLD = hold
    hold.touch()
    holder = threading.Thread(target=dg.materialize, args=([holds_the_warehouse],), kwargs={"instance": instance})
    holder.start()
    try:
        deadline = time.monotonic() + timeout
        while not instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            assert time.monotonic() < deadline, "the holding run never started"
            time.sleep(0.1)
        yield
    finally:
        hold.unlink()
        holder.join()


def wait_for_output(process: subprocess.Popen, log: Path, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_ilms_run_waits_for_a_run_holding_the_warehouse_then_loads(tmp_path):
    """A real run in pool duckdb_warehouse is in progress on the instance: `ilms run` says which run it waits for,
    writes nothing meanwhile, and loads once that run ends. The CPU it spends waiting is measured by
    benchmarks/pool_wait.py."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
    with instance_at(home) as instance:
        with warehouse_held(instance, tmp_path / "hold"):
            process, log = start(tmp_path)
            wait_for_output(process, log, "waiting for run")
            time.sleep(2)
            assert process.poll() is None and not (tmp_path / "warehouse.duckdb").exists()  # still waiting
        assert process.wait(timeout=300) == 0, log.read_text()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT ref_area FROM raw.submissions").fetchall() == [(COUNTRY,)]
