"""The embedded instance (`IlmsInstance`, selected by the shipped dagster.yaml) and its event log: Dagster's consolidated SQLite event log (one database, where the default
storage writes each asset event twice, into a database per run and an index), with one connection pool per
process instead of a new engine and connection for every event, and SQLite's WAL-mode `synchronous=NORMAL`
(a commit no longer waits for the disk; a power cut may lose the last events, never corrupt the log).

Dagster's SQLite storages pay ~40 ms an event that way (docs/performance.md). `IlmsInstance` is Dagster's
instance with that event log as the default storage of its folder (`<DAGSTER_HOME>/history/event_log.db`),
so any process opening the instance by its folder finds the same log; a `storage:` section in dagster.yaml
(PostgreSQL in production, docs/operations.md) still replaces it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import dagster as dg
import yaml
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event

from ilms_dagster.partitions import without_stale_dimension_tags

BUSY_TIMEOUT_SECONDS = 30
CLAIM_RECHECK_SECONDS = 0.5  # a step waiting for a pool slot asks again this often (pool_wait.py)
# The backfill daemon's loop (Dagster: a fixed 30 s); an idle pass is three queries (in progress, canceling, failing).
BACKFILL_LOOP_SECONDS = 5


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    _engine = None
    _pid = None
    _tables: set[str] = set()

    def _pooled_engine(self):
        if self._engine is None or self._pid != os.getpid():  # a forked process gets an engine of its own
            engine = create_engine(self._conn_string, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
            event.listen(engine, "connect", _wal_normal_sync)
            self._engine, self._pid, self._tables = engine, os.getpid(), set()
        return self._engine

    @contextmanager
    def _connect(self):
        with self._pooled_engine().connect() as conn, conn.begin():
            yield conn

    def store_event_batch(self, events) -> None:
        """A batch of one asset's materializations over a partition range (Dagster sends one when
        DAGSTER_EVENT_BATCH_SIZE is set: environment.py) in one multi-row INSERT and one update of the asset's
        entry, as dagster-postgres does, instead of two transactions an event. Anything else: one at a time."""
        from dagster._core.events import DagsterEventType

        types = {event.get_dagster_event().event_type for event in events}
        if types != {DagsterEventType.ASSET_MATERIALIZATION}:
            return super().store_event_batch(events)
        with self._connect() as conn:
            result = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            ids = [int(row[0]) for row in result.fetchall()]
            self._store_asset_event_tags(conn, events, ids)
            last = {event.get_dagster_event().asset_key: (event, id_) for event, id_ in zip(events, ids, strict=True)}
            for event, id_ in last.values():
                self._store_asset_event(conn, event, id_)

    def claim_concurrency_slot(self, concurrency_key, run_id, step_key, priority=None):
        """Dagster's claim; a step left waiting asks again every CLAIM_RECHECK_SECONDS instead of Dagster's
        growing interval (up to 15 s, during which a freed slot stays idle). A check is one indexed query."""
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        return status if status.is_claimed else status.with_sleep_interval(CLAIM_RECHECK_SECONDS)

    def has_table(self, table_name: str) -> bool:
        """Asked before every pool claim; a table once there stays there, so only a miss asks the database."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables


def _wal_normal_sync(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class IlmsInstance(dg.DagsterInstance):
    """Dagster's instance whose default storage keeps Dagster's SQLite run and schedule storages and uses the
    pooled consolidated event log above; and whose range runs carry only their range (the job-backfill route of
    Dagster 1.13 also gives them the first partition's per-dimension tags: `partitions.without_stale_dimension_tags`);
    and whose daemon looks at backfills every BACKFILL_LOOP_SECONDS: Dagster's backfill loop sleeps a fixed
    30 s (`DEFAULT_DAEMON_INTERVAL_SECONDS`, read when the loop starts, no setting), so a backfill waited up to
    30 s for its first runs and up to 30 s after its last one to show as completed; and whose failing runs carry
    their retry decision before their failure is stored (`_publish_retry_decision`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from dagster._daemon import controller

        controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_LOOP_SECONDS  # also the pre-sensor auto-materialize
        # tick's default, unused here: the models' automation runs on AutomationConditionSensors (operations.py)

    def create_run(self, *, tags=None, **kwargs):
        return super().create_run(tags=without_stale_dimension_tags(tags), **kwargs)

    def handle_new_event(self, event, *, batch_metadata=None) -> None:
        if self.run_retries_enabled and event.is_dagster_event and event.get_dagster_event().is_run_failure:
            self._publish_retry_decision(event)
        super().handle_new_event(event, batch_metadata=batch_metadata)

    def _publish_retry_decision(self, event) -> None:
        """Tag a failing run `dagster/will_retry` before its failure is stored. Dagster 1.13 stores the FAILURE
        status first and the tag after it; a backfill daemon pass in between finds no run in progress and none
        waiting to retry, finishes the backfill, and the retry daemon then refuses to retry a run of a finished
        backfill: a killed worker's partitions were lost (dagster-io/dagster#34204). Dagster tags the run again
        after storing the failure, with the same decision."""
        run = self.get_run_by_id(event.run_id)
        if run is None:
            return
        data = event.get_dagster_event().event_specific_data
        reason = getattr(data, "failure_reason", None)
        decision = auto_reexecution_should_retry_run(self, run.with_status(dg.DagsterRunStatus.FAILURE), reason)
        self.add_run_tags(run.run_id, {WILL_RETRY_TAG: str(decision).lower()})

    @classmethod
    def config_schema(cls):
        return {}  # no settings of its own

    @staticmethod
    def config_defaults(base_dir: str):
        from dagster._core.instance.ref import InstanceRef

        defaults = dict(InstanceRef.config_defaults(base_dir))
        events = {"module_name": __name__, "class_name": PooledSqliteEventLogStorage.__name__,
                  "config_yaml": yaml.dump({"base_dir": os.path.join(base_dir, "history")})}  # fmt: skip
        parts = {name: {"module_name": data.module_name, "class_name": data.class_name, "config_yaml": data.config_yaml}
                 for name, data in (("run_storage", defaults["run_storage"]),
                                    ("schedule_storage", defaults["schedule_storage"]))}  # fmt: skip
        defaults["storage"] = ConfigurableClassData("dagster._core.storage.legacy_storage", "CompositeStorage",
                                                    yaml.dump(parts | {"event_log_storage": events}))  # fmt: skip
        defaults["event_log_storage"] = ConfigurableClassData(__name__, PooledSqliteEventLogStorage.__name__,
                                                              events["config_yaml"])  # fmt: skip
        return defaults
