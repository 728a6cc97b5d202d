"""Shared fixtures: a project on temporary folders with a real DuckDB warehouse and real Dagster runs."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ["DAGSTER_DISABLE_TELEMETRY"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"

import dagster as dg  # noqa: E402
import duckdb  # noqa: E402
import pytest  # noqa: E402

from ilms_dagster.resources import IlmsStorage  # noqa: E402
from ilms_dagster.resources.warehouse import WarehouseResource  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared: beside the checkout, not in it


@pytest.fixture(scope="session")
def ilostat_sample() -> Path:
    """../shared/ilostat-sample, the real published ILOSTAT rows; a test that needs it is skipped, saying so, where
    the folder is missing (a checkout without the shared folder beside it)."""
    path = SHARED / "ilostat-sample"
    if not sorted(path.glob("*.csv")):
        pytest.skip(
            f"needs ../shared/ilostat-sample (the real published ILOSTAT CSV files) at {path}: not there; "
            "put the shared folder beside the checkout to run this test"
        )
    return path


warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


@dataclass
class Project:
    """A data folder, inbox and warehouse of their own, and a way to materialize partitions into them."""

    root: Path
    _instance: dg.DagsterInstance | None = field(default=None, repr=False)

    @property
    def instance(self) -> dg.DagsterInstance:
        """A real ephemeral Dagster instance, shared by the project's runs, knowing the reporting countries."""
        from ilms_dagster.partitions import ensure_countries

        if self._instance is None:
            self._instance = dg.DagsterInstance.ephemeral()
            ensure_countries(self._instance)
        return self._instance

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def resources(self) -> dict:
        return {
            "storage": IlmsStorage(data_dir=str(self.root), inbox_dir=str(self.inbox)),
            "warehouse": WarehouseResource(database=str(self.warehouse_path)),
        }

    def materialize(self, round_: str, country: str, selection=None, raise_on_error: bool = True):
        from ilms_dagster.assets import ilmq_tables, submission_file
        from ilms_dagster.partitions import ensure_countries, submission_key

        ensure_countries(self.instance, [country])  # a country beyond the ten, as the inbox sensor would add it
        return dg.materialize(
            selection or [submission_file, ilmq_tables],
            partition_key=submission_key(round_, country),
            resources=self.resources,
            raise_on_error=raise_on_error,
            instance=self.instance,
        )

    def query(self, sql: str, params=None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse_path), read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every warehouse table (raw + ilmq), for before/after comparisons."""
        if not self.warehouse_path.exists():
            return {}
        with duckdb.connect(str(self.warehouse_path), read_only=True) as conn:
            tables = conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                " WHERE table_schema IN ('raw', 'ilmq') ORDER BY 1"
            ).fetchall()
            return {
                t: sorted(
                    conn.execute(
                        f"SELECT * EXCLUDE (loaded_at) FROM {t}" if t == "raw.submissions" else f"SELECT * FROM {t}"
                    ).fetchall(),
                    key=repr,
                )
                for (t,) in tables
            }


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Project:
    monkeypatch.setenv("ILMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ILMS_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("ILMS_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    (tmp_path / "inbox").mkdir()
    return Project(tmp_path)
