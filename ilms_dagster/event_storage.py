"""The embedded instance (`IlmsInstance`, selected by the shipped dagster.yaml), its event log and its run storage.
The event log is Dagster's consolidated SQLite event log (one database, where the default storage writes each
asset event twice, into a database per run and an index); it and Dagster's SQLite run storage get one
connection pool per process instead of a new engine and connection for every call, and SQLite's WAL-mode
`synchronous=NORMAL` (a commit no longer waits for the disk; a power cut may lose the last events, never
corrupt the log).

Dagster's SQLite storages pay ~40 ms an event that way (docs/performance.md). `IlmsInstance` is Dagster's
instance with that event log as the default storage of its folder (`<DAGSTER_HOME>/history/event_log.db`),
so any process opening the instance by its folder finds the same log; a `storage:` section in dagster.yaml
(PostgreSQL in production, docs/operations.md) still replaces it.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager

import dagster as dg
import yaml
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster._core.events import ASSET_CHECK_EVENTS, DagsterEventType
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._serdes import ConfigurableClassData
from sqlalchemy import and_, bindparam, create_engine, event, select

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


class _PooledEngine:
    """One engine (a connection pool) per process for a Dagster SQLite storage, where Dagster makes a new engine
    and connection at every call; SQLAlchemy's compiled statements are cached per engine, so its queries are
    also compiled once, not at every call. WAL mode `synchronous=NORMAL` on its connections."""

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


class PooledSqliteRunStorage(_PooledEngine, SqliteRunStorage):
    """Dagster's SQLite run storage (`<DAGSTER_HOME>/history/runs.db`) on a pooled engine: ~75 calls in an
    `ilms run`, each of which made an engine and compiled its query anew."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)  # Dagster's builds a SqliteRunStorage

    def connect(self):
        return self._connect()


class PooledSqliteEventLogStorage(_PooledEngine, ConsolidatedSqliteEventLogStorage):

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
            # executemany, which SQLAlchemy sends as multi-row INSERTs of one statement compiled once
            result = conn.execute(_INSERT_EVENT, rows)
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


_INSERT_EVENT = SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True)
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
        self._dynamic_partitions: dict | None = None  # while held: {name: (keys, set of them)}
        from dagster._daemon import controller

        controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_LOOP_SECONDS  # also the pre-sensor auto-materialize
        # tick's default, unused here: the models' automation runs on AutomationConditionSensors (operations.py)

    @contextmanager
    def dynamic_partitions_held(self):
        """Answer the dynamic partitions' lookups from memory while inside: Dagster asks for the countries and
        whether a key is one of them at every partition-range lookup (~240 queries in an `ilms run`).
        `round_run.partition_keys_held` holds them for a run of ours; adding or deleting one forgets them."""
        self._dynamic_partitions = {}
        try:
            yield
        finally:
            self._dynamic_partitions = None

    def get_dynamic_partitions(self, partitions_def_name: str):
        if self._dynamic_partitions is None:
            return super().get_dynamic_partitions(partitions_def_name)
        if partitions_def_name not in self._dynamic_partitions:
            keys = super().get_dynamic_partitions(partitions_def_name)
            self._dynamic_partitions[partitions_def_name] = (keys, frozenset(keys))
        return self._dynamic_partitions[partitions_def_name][0]

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        if self._dynamic_partitions is None:
            return super().has_dynamic_partition(partitions_def_name, partition_key)
        self.get_dynamic_partitions(partitions_def_name)
        return partition_key in self._dynamic_partitions[partitions_def_name][1]

    def add_dynamic_partitions(self, partitions_def_name: str, partition_keys):
        self._forget_dynamic_partitions()
        return super().add_dynamic_partitions(partitions_def_name, partition_keys)

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self._forget_dynamic_partitions()
        super().delete_dynamic_partition(partitions_def_name, partition_key)

    def _forget_dynamic_partitions(self) -> None:
        if self._dynamic_partitions is not None:
            self._dynamic_partitions = {}

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
        history = yaml.dump({"base_dir": os.path.join(base_dir, "history")})
        defaults["run_storage"] = ConfigurableClassData(__name__, PooledSqliteRunStorage.__name__, history)
        defaults["event_log_storage"] = ConfigurableClassData(__name__, PooledSqliteEventLogStorage.__name__, history)
        parts = {name: {"module_name": data.module_name, "class_name": data.class_name, "config_yaml": data.config_yaml}
                 for name in ("run_storage", "event_log_storage", "schedule_storage") for data in [defaults[name]]}
        defaults["storage"] = ConfigurableClassData("dagster._core.storage.legacy_storage", "CompositeStorage",
                                                    yaml.dump(parts))  # fmt: skip
        return defaults


def latest_materializations(instance: dg.DagsterInstance, keys: set[dg.AssetKey], partitions: list[str]) -> dict:
    """{(asset, partition): its latest materialization, as a check evaluation targets it} over these partitions:
    a query an asset for the storage ids, then one for their runs and times (Dagster's event logs are SQL
    tables: SQLite, PostgreSQL). The event's time is read from its stored JSON, where Dagster's records API
    rebuilds each whole event (~1 ms each, 250 in a range run of ten partitions)."""
    wanted, ids = set(partitions), {}
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        latest = instance.event_log_storage.get_latest_storage_id_by_partition(
            key, DagsterEventType.ASSET_MATERIALIZATION, wanted)
        ids |= {(key, partition): id_ for partition, id_ in latest.items()}
    if not ids:
        return {}
    table = SqlEventLogStorageTable
    with instance.event_log_storage.index_connection() as conn:
        rows = conn.execute(select(table.c.id, table.c.run_id, table.c.event).where(
            table.c.id.in_(sorted(ids.values())))).fetchall()  # fmt: skip
    found = {int(id_): (run_id, json.loads(text)["timestamp"]) for id_, run_id, text in rows}
    return {pair: AssetCheckEvaluationTargetMaterializationData(storage_id=id_, run_id=found[id_][0],
                                                                timestamp=found[id_][1])
            for pair, id_ in ids.items() if id_ in found}  # fmt: skip
