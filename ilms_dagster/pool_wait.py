"""A run whose step waits for a pool slot (pool duckdb_warehouse: one writer at a time) sleeps while it waits.

Dagster 1.13's `InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns `min(0, ...)`, never a
positive time, so the executor's loop (`ActiveExecution.sleep_til_ready`) never sleeps while a step waits for a
slot: it spins. Measured on this project's 2-core machine: a run waiting 12 s for a slot used 10.6 s of CPU, taken
from the run that held the slot (a backfill runs up to four runs at a time, three of them waiting). Upstream saw
the same ("we would always end up sleeping 0 for concurrency checks", dagster-io/dagster#20367, closed unmerged).

`apply()` (called by definitions.py, so in every process that executes runs) gives the method the meaning its
name says: the time until the next pending claim check, never negative, at most `MAX_SLEEP_SECONDS` (the same
loop also waits for steps on other workers, which it should not ignore for long). Dagster's own schedule of
claim checks (1 s, growing to 15 s) is unchanged; `IlmsInstance`'s event log asks for a check every
`event_storage.CLAIM_RECHECK_SECONDS` instead, so a freed slot is taken within about a second.
"""

from __future__ import annotations

import time

from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

MAX_SLEEP_SECONDS = 1.0


def _interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    wait = min(self._pending_timeouts.values()) - time.time()
    return min(max(wait, 0.0), MAX_SLEEP_SECONDS)


def apply() -> None:
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = _interval_to_next_pending_claim_check
