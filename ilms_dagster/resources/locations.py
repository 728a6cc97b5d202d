"""Where the data folder and the warehouse files are, and the analysts' read-only connection: no Dagster, no pandas
(`ilms sql`, `ilms export` and `ilms template` import this, and start in well under a second)."""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
IN_CHECKOUT = (CHECKOUT / "dbt_like_sql").is_dir()
# The folders the package reads (dagster.yaml, dbt_like_sql/, expectations/, microdata/, deploy/): the checkout's,
# or their copies in an installed wheel (pyproject.toml, force-include).
PROJECT_ROOT = CHECKOUT if IN_CHECKOUT else Path(__file__).resolve().parents[1] / "project_files"


def data_dir() -> Path:
    """The data folder: ILMS_DATA_DIR, else `data/` of the checkout, or of the current folder where the package is
    installed from a wheel."""
    return Path(os.environ.get("ILMS_DATA_DIR") or (CHECKOUT if IN_CHECKOUT else Path.cwd()) / "data")


def warehouse_path() -> Path:
    return Path(os.environ.get("ILMS_WAREHOUSE") or data_dir() / "warehouse.duckdb")


def read_copy_path(path: Path | None = None) -> Path:
    """The published read-only copy of a warehouse file: `<folder>/<name>_read.duckdb`."""
    path = path or warehouse_path()
    return path.with_name(f"{path.stem}_read{path.suffix}")


def connect_read_only(path: Path | None = None):
    """How analysts open the warehouse: the published read-only copy (never the file the pipeline writes), so
    they may hold it open as long as they like. A warehouse written before read copies existed has none yet:
    then the warehouse itself, read-only (the next load publishes the copy)."""
    import duckdb

    path = path or warehouse_path()
    copy = read_copy_path(path)
    return duckdb.connect(str(copy if copy.exists() else path), read_only=True)
