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
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        ensure_countries(instance)
    return home
