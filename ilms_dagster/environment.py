"""The environment every ilms-dagster process runs Dagster with, set once before Dagster is imported.

- Telemetry off (Dagster and Great Expectations): nothing uses the network at run time.
- `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`: a run over a partition range (`ilms run`, backfills)
  records one "materialization planned" event per asset, not one per asset and partition (26 events less per
  partition: docs/performance.md). Dagster's documented price: when such a run fails, its partitions show as
  missing rather than failed in the asset's partition view (the run itself shows as failed).
- `DAGSTER_EVENT_BATCH_SIZE`: an asset's materializations over a partition range reach the event log as one
  batch, which `IlmsInstance`'s event log (event_storage.py) writes in one INSERT (dagster-postgres does too);
  so do a run's planned events, and (held back by `IlmsInstance`) the check evaluations a step reports in a row.

Values already in the environment win, so an operator can turn any of them back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DAGSTER_ENVIRONMENT: Mapping[str, str] = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
}


def apply() -> None:
    for key, value in DAGSTER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
