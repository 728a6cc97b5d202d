"""The embedded instance's storages change only how a connection is made (ilms_dagster/orchestration/
sqlite_connections.py): the Dagster methods they override keep the signatures they expect, the databases lie in
DAGSTER_HOME/history, one engine serves a process, and every connection commits with synchronous=NORMAL in WAL."""

from __future__ import annotations

import inspect
import shutil

from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage

from ilms_dagster.orchestration.instance import SHIPPED_DAGSTER_YAML, instance_at
from ilms_dagster.orchestration.sqlite_connections import PooledSqliteEventLogStorage, PooledSqliteRunStorage


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_dagster_methods_overridden_keep_the_signatures_expected():
    assert _parameters(SqliteRunStorage.connect) == ["self"]
    assert _parameters(SqliteRunStorage.from_local) == ["base_dir", "inst_data"]
    assert _parameters(SqliteRunStorage.from_config_value) == ["inst_data", "config_value"]
    assert _parameters(ConsolidatedSqliteEventLogStorage.__init__) == ["self", "base_dir", "inst_data"]
    assert _parameters(ConsolidatedSqliteEventLogStorage._connect) == ["self"]
    assert _parameters(ConsolidatedSqliteEventLogStorage.has_table) == ["self", "table_name"]
    # what the overrides connect to: Dagster's connection string of the storage
    assert "self._conn_string" in inspect.getsource(SqliteRunStorage.connect)
    assert "self._conn_string" in inspect.getsource(ConsolidatedSqliteEventLogStorage._connect)


def test_the_shipped_instance_connects_once_a_process_with_normal_sync_in_wal(tmp_path):
    shutil.copyfile(SHIPPED_DAGSTER_YAML, tmp_path / "dagster.yaml")
    with instance_at(tmp_path) as instance:
        runs, events = instance.run_storage, instance.event_log_storage
        assert type(runs) is PooledSqliteRunStorage and type(events) is PooledSqliteEventLogStorage
        assert (tmp_path / "history" / "runs.db").exists() and (tmp_path / "history" / "event_log.db").exists()
        instance.add_dynamic_partitions("country", ["XAA"])
        assert instance.get_dynamic_partitions("country") == ["XAA"] and instance.get_runs() == []
        for storage, connect in ((runs, runs.connect), (events, events.index_connection)):
            engine = storage._pooled_engine()
            with connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert storage._pooled_engine() is engine  # the same pool for every call
            assert engine.pool.checkedin() >= 1  # the connection went back to it, not closed
