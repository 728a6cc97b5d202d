"""The Dagster resources (storage, warehouse). Imported on first use, so that `ilms_dagster.resources.locations`
(the analysts' path) is importable without Dagster."""

from importlib import import_module

__all__ = ["IlmsStorage", "default_storage", "WAREHOUSE_POOL", "default_warehouse"]
_WHERE = {
    "IlmsStorage": "storage",
    "default_storage": "storage",
    "WAREHOUSE_POOL": "warehouse",
    "default_warehouse": "warehouse",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"ilms_dagster.resources.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ilms_dagster.resources' has no attribute {name!r}")
