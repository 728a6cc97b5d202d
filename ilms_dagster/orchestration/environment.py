"""The environment every ilms-dagster process runs Dagster with, set once before Dagster is imported.

- Telemetry off (Dagster and Great Expectations): nothing uses the network at run time.
- `DAGSTER_EVENT_BATCH_SIZE`: an asset's materializations over a partition range reach the event log as one
  batch, which dagster-postgres writes in one INSERT (production); Dagster's SQLite event log stores a batch
  one event at a time.

Not set: `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`, which saves one event per asset and partition of a
range run but makes the partitions of a failed run (a blocked submission) show as missing instead of failed.

Values already in the environment win, so an operator can turn any of them back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DAGSTER_ENVIRONMENT: Mapping[str, str] = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
}


def apply() -> None:
    for key, value in DAGSTER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
