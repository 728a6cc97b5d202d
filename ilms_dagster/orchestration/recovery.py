"""Runs that die release what they hold: the start-up sweep of `ilms run` and of the inbox sensor.

A run killed with SIGKILL (or whose machine lost power) never writes its end: it stays STARTED and keeps the
`duckdb_warehouse` pool slot it held, so every later writer would wait for ever. The default run launcher
offers Dagster's run monitoring no health check of its workers (the shipped dagster.yaml enables monitoring
anyway: start timeout, maximum run time, freeing the slots of finished runs). This sweep fills the gap for
this instance's own machine: a run in progress whose process (the pid its events carry) is gone, or is
another, younger process now, is marked failed and its pool slots are freed. Runs of other machines cannot
be judged here and are left alone (one instance per machine is this project's deployment).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.dagster_run import FINISHED_STATUSES  # a constant Dagster does not export

from ilms_dagster.orchestration.dev_process import start_time

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass
class Swept:
    run_id: str
    job: str
    pid: int | None
    action: str

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.job}, process {self.pid}): {self.action}"


def process_alive(pid: int, started_after: float | None = None) -> bool:
    """Whether `pid` is a live (not zombie) process that was already running at `started_after` (epoch s):
    a process started later is a reuse of the number, not the run's process."""
    started = start_time(pid)
    return started is not None and (started_after is None or started <= started_after + 1)


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's process (its run worker): the one that wrote the run's start, else its latest
    event. Not simply the latest event: on Celery workers (`ilms deploy up`) a step's events carry the
    worker's pid, which lives on when the run's process is killed."""
    started = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    records = started or instance.get_records_for_run(run_id, limit=5, ascending=False).records
    events = (r.event_log_entry.dagster_event for r in records)
    return next((event.pid for event in events if event is not None and event.pid), None)


def sweep_dead_runs(instance: dg.DagsterInstance, report: Callable[[str], None] = print) -> list[Swept]:
    """Fail every in-progress run whose process is dead and free its pool slots; free the slots still held
    by finished runs. Calls `report` with one line per run handled; returns them."""
    swept = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        pid = run_pid(instance, run.run_id)
        started = record.start_time or record.create_timestamp.timestamp()
        if pid is None or pid == os.getpid() or process_alive(pid, started_after=started):
            continue
        instance.report_run_failed(
            run,
            message=f"Marked failed by ilms: its process {pid} is gone (killed or "
            "crashed); its warehouse pool slot is freed.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        swept.append(Swept(run.run_id, run.job_name, pid, "its process is gone: marked failed, pool slots freed"))
    if instance.event_log_storage.supports_global_concurrency_limits:
        holding = instance.event_log_storage.get_concurrency_run_ids()
        if holding:
            for record in instance.get_run_records(dg.RunsFilter(run_ids=list(holding), statuses=FINISHED_STATUSES)):
                instance.event_log_storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
                swept.append(
                    Swept(
                        record.dagster_run.run_id,
                        record.dagster_run.job_name,
                        None,
                        f"{record.dagster_run.status.value.lower()} but still held a pool slot: freed",
                    )
                )
    for item in swept:
        report(f"Recovered {item}")
    return swept
