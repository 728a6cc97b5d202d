"""Ingest a round's partitions in as few Dagster runs as possible (what `ilms run` does).

One run per contiguous range of countries (in the order the `country` partitions were added), as a
single-run backfill does: Dagster's cost is per event and a run over a key range records ~60 events a
partition where one run per partition records ~140 (docs/performance.md). A run whose workbooks are partly
rejected fails naming them (`rejected_partitions`); the others are then ingested in a run of their own.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from ilms_dagster.assets.ilmq import SUBMISSION_CHECK
from ilms_dagster.assets.submission_file import REJECTED_METADATA
from ilms_dagster.orchestration.recovery import IN_PROGRESS
from ilms_dagster.partitions import RANGE_END, RANGE_START, ensure_countries, submission_key
from ilms_dagster.resources import WAREHOUSE_POOL

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the caller prints progress


@dataclass
class Outcome:
    """What became of one round x country: ok, blocked (by validation), rejected (bad workbook) or failed."""

    round: str
    country: str
    status: str
    message: str = ""
    run_id: str = ""


def contiguous(countries: list[str], order: list[str]) -> list[list[str]]:
    """The countries as runs of neighbours in `order` (a key range covers every country between its ends)."""
    position = {c: i for i, c in enumerate(order)}
    groups: list[list[str]] = []
    for country in sorted(dict.fromkeys(countries), key=position.__getitem__):
        if groups and position[country] == position[groups[-1][-1]] + 1:
            groups[-1].append(country)
        else:
            groups.append([country])
    return groups


def run_round(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    round_: str,
    countries: list[str],
    progress: Callable[[list[str]], None] | None = None,
    waiting: Callable[[list[dg.DagsterRun]], None] | None = None,
) -> list[Outcome]:
    """Run `job` over round x countries; an Outcome per country, in the order given. `progress(countries)` is
    called before each run (the caller may watch the run's files meanwhile), `waiting(runs)` while it waits for
    other runs that hold the warehouse (`wait_for_warehouse`)."""
    order = ensure_countries(instance, countries)
    pending, outcomes = contiguous(countries, order), {}
    while pending:
        group = pending.pop(0)
        if progress:
            progress(group)
        first, last = (str(submission_key(round_, c)) for c in (group[0], group[-1]))
        wait_for_warehouse(instance, waiting)
        with partition_keys_held(instance):
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config=QUIET_LOGS,
                tags={RANGE_START: first, RANGE_END: last},
            )
        rejected = _rejected(result)
        for country in group:
            key = str(submission_key(round_, country))
            if key in rejected:
                outcomes[country] = Outcome(round_, country, "rejected", rejected[key], result.run_id)
        if rejected:
            pending = contiguous([c for c in group if c not in outcomes], order) + pending
            continue
        verdicts = {e.partition: e for e in result.get_asset_check_evaluations() if e.check_name == SUBMISSION_CHECK}
        for country in group:
            verdict = verdicts.get(str(submission_key(round_, country)))
            if verdict is None:
                outcomes[country] = Outcome(round_, country, "failed", failure_message(result), result.run_id)
            elif not verdict.passed and verdict.severity == dg.AssetCheckSeverity.ERROR:
                outcomes[country] = Outcome(round_, country, "blocked", verdict.description or "", result.run_id)
            else:
                outcomes[country] = Outcome(round_, country, "ok", verdict.description or "", result.run_id)
    return [outcomes[c] for c in dict.fromkeys(countries)]


@contextmanager
def partition_keys_held(instance: dg.DagsterInstance):
    """A context in which a run sees one time (its start) and the partitions as they were then: Dagster then
    computes a partitions definition's keys once (the yearly rounds by iterating its cron schedule from 2014,
    the countries by a query), where it otherwise does so at every call (~100 in a run of the models, which look
    up all partitions of each of their inputs); the keys cannot change during a run of ours (partitions are
    added before it: `ensure_countries`)."""
    with dg.partition_loading_context(effective_dt=datetime.now(timezone.utc), dynamic_partitions_store=instance):
        yield


WAIT_SECONDS = 1.0


def warehouse_holders(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """The runs in progress on this instance with a step in the warehouse pool."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS))
    return [r for r in runs if r.run_op_concurrency and WAREHOUSE_POOL in (r.run_op_concurrency.all_pools or ())]


def wait_for_warehouse(
    instance: dg.DagsterInstance, waiting: Callable[[list[dg.DagsterRun]], None] | None = None
) -> None:
    """Sleep until no run in progress holds the warehouse pool. The shipped dagster.yaml limits the pool at run
    granularity: the run queue starts a queued run only when no run in progress uses the pool (this process's
    runs included), and a run executed here, outside the queue, waits for the others with this loop (one query a
    second, no CPU), before it is created. A run whose process died is failed by `recovery.sweep_dead_runs`."""
    while holders := warehouse_holders(instance):
        if waiting:
            waiting(holders)
        time.sleep(WAIT_SECONDS)


def _rejected(result) -> dict[str, str]:
    """{partition key: message} of the workbooks the run's intake rejected."""
    for event in result.all_events:
        if event.is_step_failure and (failure := event.step_failure_data.user_failure_data) is not None:
            keys = failure.metadata.get(REJECTED_METADATA)
            if keys is not None:
                messages = failure.description.split("\n\n")
                return dict(zip(keys.value.split(", "), messages, strict=True))
    return {}


def failure_message(result) -> str:
    """What went wrong, in the words of the code that failed: a Failure's description, else the innermost
    error's message without Dagster's wrapping or any `module.Class:` prefix."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description.strip()
        if data.error:
            return plain_error(data.error)
    for event in result.all_events:
        if (
            event.is_failure
            and event.event_specific_data is not None
            and getattr(event.event_specific_data, "error", None)
        ):
            return plain_error(event.event_specific_data.error)
    return "see the run's logs in the Dagster UI"


_CLASS_PREFIX = re.compile(r"^(?:(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*|[A-Za-z_]\w*(?:Error|Exception|Failure|Locked)): ")


def plain_error(error) -> str:
    """The innermost cause of a SerializableErrorInfo, without the exception class path."""
    while error.cause is not None:
        error = error.cause
    return _CLASS_PREFIX.sub("", error.message.strip(), count=1)


class FileWatcher:
    """Counts, while a run goes on, the partitions parsed (staged) and loaded (feedback written) since it
    started: progress for a run that reports nothing until its step ends."""

    def __init__(self, staging: Path, feedback: Path, round_: str, on_change: Callable[[int, int], None]):
        self.staging, self.feedback, self.round = staging, feedback, round_
        self.on_change, self.countries, self.since = on_change, [], 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def counts(self) -> tuple[int, int]:
        def newer(paths) -> bool:
            return any(p.stat().st_mtime >= self.since for p in paths if p.exists())

        staged = sum(newer([self.staging / self.round / c / "submission.json"]) for c in self.countries)
        loaded = sum(newer((self.feedback / self.round).glob(f"{c}_feedback_*.xlsx")) for c in self.countries)
        return staged, loaded

    def watch(self, countries: list[str], since: float) -> None:
        self.countries, self.since = countries, since
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            if self.countries:
                self.on_change(*self.counts())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
