"""The Dagster instance the project runs on: DAGSTER_HOME, seeded with the shipped dagster.yaml and the
reporting countries (the `country` dynamic partitions)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from ilms_dagster.partitions import ensure_countries
from ilms_dagster.resources.storage import PROJECT_ROOT, data_dir

SHIPPED_DAGSTER_YAML = PROJECT_ROOT / "dagster.yaml"


def ensure_dagster_home() -> Path:
    """Use DAGSTER_HOME if set, else `<data>/dagster_home`; make sure it holds the shipped dagster.yaml and
    its instance knows the reporting countries."""
    with open_instance():
        return Path(os.environ["DAGSTER_HOME"])


def instance_at(home: Path | str) -> dg.DagsterInstance:
    """The instance of folder `home`, open. The shipped dagster.yaml's storages live in DAGSTER_HOME/history, so
    this process's DAGSTER_HOME becomes `home` (as `dagster` commands expect): never
    `DagsterInstance.from_config(home)` with another DAGSTER_HOME set."""
    os.environ["DAGSTER_HOME"] = str(Path(home).resolve())
    return dg.DagsterInstance.get()


def open_instance() -> dg.DagsterInstance:
    """The instance of `ensure_dagster_home`'s folder, open (close it, or use it in a `with`): a command that
    needs one opens it once (~0.5 s each)."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
    instance = instance_at(home)
    ensure_countries(instance)
    return instance
