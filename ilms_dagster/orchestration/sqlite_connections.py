"""How the embedded instance's SQLite storages connect: one connection pool per process, WAL `synchronous=NORMAL`.

Dagster's SQLite run storage and its consolidated SQLite event log (both documented storages, selected in the
shipped dagster.yaml) make a new engine and connection at every call and commit with SQLite's default
`synchronous=FULL`, so every commit waits for the disk: ~75 run-storage calls and ~800 event writes in one
`ilms run`. The classes below change nothing but how a connection is made: one engine (a pool) per process, so
SQLAlchemy also compiles each query once, and `PRAGMA synchronous=NORMAL` on each connection (in WAL mode a
commit no longer waits for the disk; a power cut may lose the last events, never corrupt the file). What this
buys, beside Dagster's stock instance: docs/performance.md.

What would remove this module: Dagster's SQLite storages taking an engine or connection arguments from their
config (they take only `base_dir`). `tests/orchestration/test_sqlite_connections.py` fails when a method
overridden here changes its signature in a Dagster release.

The databases go to `<base_dir>/history/`, where Dagster's default storage keeps them. `base_dir` is optional: by
default the instance folder, DAGSTER_HOME; without one (a `dagster` command run in the project folder with no
DAGSTER_HOME, which Dagster serves from a temporary instance) a temporary folder, removed when the process ends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from contextlib import contextmanager

from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event

HISTORY = "history"
CONFIG = {"base_dir": Field(StringSource, is_required=False, description="default: DAGSTER_HOME")}


def history_folder(config_value) -> str:
    base_dir = config_value.get("base_dir") or os.environ.get("DAGSTER_HOME")
    if not base_dir:
        base_dir = tempfile.mkdtemp(prefix="ilms_dagster_home_")
        atexit.register(shutil.rmtree, base_dir, ignore_errors=True)
    return os.path.join(base_dir, HISTORY)


class _PooledConnections:
    """One engine per process (a fork makes its own) on the storage's `_conn_string`."""

    _engine = None
    _pid = None

    def _pooled_engine(self):
        if self._engine is None or self._pid != os.getpid():
            engine = create_engine(self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            event.listen(engine, "connect", _normal_sync)
            self._engine, self._pid = engine, os.getpid()
        return self._engine

    @contextmanager
    def _pooled_connection(self):
        with self._pooled_engine().connect() as conn, conn.begin():
            yield conn


def _normal_sync(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteRunStorage(_PooledConnections, SqliteRunStorage):
    """Dagster's SQLite run storage (`<base_dir>/history/runs.db`)."""

    @classmethod
    def config_type(cls):
        return CONFIG

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # Dagster's builds a SqliteRunStorage whatever the class
        return cls.from_local(history_folder(config_value), inst_data=inst_data)

    def connect(self):
        return self._pooled_connection()


class PooledSqliteEventLogStorage(_PooledConnections, ConsolidatedSqliteEventLogStorage):
    """Dagster's consolidated SQLite event log (`<base_dir>/history/event_log.db`: one database, where the
    default event log writes each asset event twice, into a database per run and an index)."""

    @classmethod
    def config_type(cls):
        return CONFIG

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(history_folder(config_value), inst_data=inst_data)

    def _connect(self):
        return self._pooled_connection()

    def has_table(self, table_name: str) -> bool:
        with self._pooled_engine().connect() as conn:
            return bool(conn.dialect.has_table(conn, table_name))
