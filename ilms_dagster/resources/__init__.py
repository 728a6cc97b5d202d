from ilms_dagster.resources.storage import IlmsStorage, default_storage
from ilms_dagster.resources.warehouse import WAREHOUSE_POOL, default_warehouse

__all__ = ["IlmsStorage", "default_storage", "WAREHOUSE_POOL", "default_warehouse"]
