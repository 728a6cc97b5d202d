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
import threading
from contextlib import contextmanager

import dagster as dg
import yaml
from dagster._core.events import ASSET_CHECK_EVENTS, DagsterEventType
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._serdes import ConfigurableClassData
from sqlalchemy import and_, bindparam, create_engine, event

from ilms_dagster.partitions import without_stale_dimension_tags

BUSY_TIMEOUT_SECONDS = 30
ASSET_EVENTS = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_MATERIALIZATION_PLANNED}
BATCHED_EVENTS = ASSET_EVENTS | ASSET_CHECK_EVENTS  # what `store_event_batch` writes in one transaction
PLANNED, SUCCEEDED, FAILED = (status.value for status in (AssetCheckExecutionRecordStatus.PLANNED,
                                                            AssetCheckExecutionRecordStatus.SUCCEEDED,
                                                            AssetCheckExecutionRecordStatus.FAILED))
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
        """A batch of asset and check events in one transaction, each event serialized once: one multi-row INSERT
        into the log, then what Dagster's `store_event` writes besides for each, as dagster-postgres does. Dagster
        sends batches of an asset's materializations over a partition range (with DAGSTER_EVENT_BATCH_SIZE set:
        environment.py) and of a run's planned events; IlmsInstance also batches a run's check evaluations.
        - materializations and planned materializations: their tags, and the asset's entry updated by the last
          event of each kind (what storing them one by one leaves there);
        - check events, the check executions table as Dagster's `store_asset_check_event` writes it: a planned
          check inserts a row per partition, an evaluation updates the row its planned event made (or inserts
          one).
        Anything else (Dagster batches nothing else): one event at a time."""
        kinds = [event.get_dagster_event().event_type for event in events]
        if not set(kinds) <= BATCHED_EVENTS:
            return super().store_event_batch(events)
        rows = [self._event_to_row(event) for event in events]
        with self._connect() as conn:
            result = conn.execute(SqlEventLogStorageTable.insert().values(rows).returning(SqlEventLogStorageTable.c.id))
            ids = [int(row[0]) for row in result.fetchall()]
            assets = [(event, id_) for event, id_, kind in zip(events, ids, kinds, strict=True) if kind in ASSET_EVENTS]
            if assets:
                self._store_asset_event_tags(conn, *zip(*assets, strict=True))
            last: dict = {}
            for event, id_ in assets:
                key = (event.get_dagster_event().asset_key, event.get_dagster_event().event_type)
                last.pop(key, None)
                last[key] = (event, id_)  # in the order of each kind's last event
            for event, id_ in last.values():
                self._store_asset_event(conn, event, id_)
            for event, row, id_, kind in zip(events, rows, ids, kinds, strict=True):
                if kind in ASSET_CHECK_EVENTS:
                    _store_check_execution(conn, event, row, id_)

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


def _store_check_execution(conn, event, row: dict, id_: int) -> None:
    data = event.get_dagster_event().event_specific_data
    values = {"asset_key": data.asset_key.to_string(), "check_name": data.check_name, "run_id": event.run_id,
              "evaluation_event": row["event"], "evaluation_event_timestamp": row["timestamp"],
              "evaluation_event_storage_id": id_}  # fmt: skip
    if event.get_dagster_event().event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
        keys = data.partitions_subset.get_partition_keys() if data.partitions_subset else [None]
        conn.execute(AssetCheckExecutionsTable.insert(),
                     [values | {"partition": key, "execution_status": PLANNED} for key in keys])  # fmt: skip
        return
    target = data.target_materialization_data
    values |= {"partition": data.partition, "execution_status": SUCCEEDED if data.passed else FAILED,
               "materialization_event_storage_id": target.storage_id if target else None}  # fmt: skip
    where = {f"b_{name}": values[name] for name in ("asset_key", "check_name", "run_id", "partition")}
    if conn.execute(_UPDATE_EVALUATION, values | where).rowcount == 0:
        conn.execute(AssetCheckExecutionsTable.insert(), values)


# The row of an evaluation's planned event, as Dagster's `_update_asset_check_evaluation` finds it; the
# statement's other parameters name the columns it sets.
_columns = AssetCheckExecutionsTable.c
_UPDATE_EVALUATION = AssetCheckExecutionsTable.update().where(and_(
    _columns.asset_key == bindparam("b_asset_key"), _columns.check_name == bindparam("b_check_name"),
    _columns.run_id == bindparam("b_run_id"), _columns.partition.is_not_distinct_from(bindparam("b_partition"))))


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
        self._check_events: list = []
        self._check_events_lock = threading.Lock()
        from dagster._daemon import controller

        controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_LOOP_SECONDS  # also the pre-sensor auto-materialize
        # tick's default, unused here: the models' automation runs on AutomationConditionSensors (operations.py)

    def create_run(self, *, tags=None, **kwargs):
        return super().create_run(tags=without_stale_dimension_tags(tags), **kwargs)

    def handle_new_event(self, event, *, batch_metadata=None) -> None:
        if self._holds_check_event(event, batch_metadata):
            return
        self.store_check_events()  # before any other event: the log keeps the order of the events
        if self.run_retries_enabled and event.is_dagster_event and event.get_dagster_event().is_run_failure:
            self._publish_retry_decision(event)
        super().handle_new_event(event, batch_metadata=batch_metadata)

    def _holds_check_event(self, event, batch_metadata) -> bool:
        """Hold a run's check evaluation back, to be stored with the ones after it in one batch
        (`store_check_events`): a range run's load step reports 25 checks a partition in a row, which Dagster
        hands to the storage one at a time (it batches only materializations and a run's planned events, with
        DAGSTER_EVENT_BATCH_SIZE set; so does this). Held until the next other event of the process (a step
        that reports checks goes on to report its outputs and its end), `dispose`, or DAGSTER_EVENT_BATCH_SIZE
        of them. Planned checks (reported where a run is created, which may be another process than the one
        running it) and Dagster's runless evaluations (run id "") are never held."""
        if (batch_metadata is not None or not event.run_id or not event.is_dagster_event
                or event.dagster_event.event_type != DagsterEventType.ASSET_CHECK_EVALUATION
                or not self._is_batch_writing_enabled()):  # fmt: skip
            return False
        with self._check_events_lock:
            self._check_events.append(event)
            full = len(self._check_events) >= self._get_event_batch_size()
        if full:
            self.store_check_events()
        return True

    def store_check_events(self) -> None:
        """Store the held check evaluations, in order, as one batch through Dagster's own batch path (which
        falls back to one event at a time if the batch fails)."""
        from dagster._core.events import DagsterEventBatchMetadata, generate_event_batch_id

        with self._check_events_lock:
            events, self._check_events = self._check_events, []
        if not events:  # asked before every other event
            return
        batch_id = generate_event_batch_id()
        for i, held in enumerate(events):
            super().handle_new_event(held, batch_metadata=DagsterEventBatchMetadata(batch_id, i == len(events) - 1))

    def dispose(self) -> None:
        self.store_check_events()
        super().dispose()

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
