"""Code location for benchmarks/backfill.py: the project's definitions, with every partitioned asset given the
backfill policy named by ILMS_BENCH_BACKFILL_POLICY ("single_run" or "multi_run:<max partitions per run>") and
the executor named by ILMS_BENCH_EXECUTOR ("in_process" or "multiprocess"), so variants can be compared without
editing ilms_dagster. Unset: the definitions unchanged."""

import os

import dagster as dg
from dagster_shared.record import copy

import ilms_dagster.definitions as project  # a module, not its Definitions: one Definitions object at module scope


def parse_policy(name: str) -> dg.BackfillPolicy:
    if name == "single_run":
        return dg.BackfillPolicy.single_run()
    kind, _, size = name.partition(":")
    if kind != "multi_run" or not size.isdigit():
        raise ValueError(f"backfill policy {name!r}: expected single_run or multi_run:<n>")
    return dg.BackfillPolicy.multi_run(int(size))


def with_policy(defs: dg.Definitions, policy: dg.BackfillPolicy) -> dg.Definitions:
    assets = [
        asset.with_attributes(backfill_policy=policy)
        if isinstance(asset, dg.AssetsDefinition) and asset.partitions_def
        else asset
        for asset in defs.assets or []
    ]
    return copy(defs, assets=assets)


EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}

_policy, _executor = os.environ.get("ILMS_BENCH_BACKFILL_POLICY"), os.environ.get("ILMS_BENCH_EXECUTOR")
defs = with_policy(project.defs, parse_policy(_policy)) if _policy else project.defs
defs = copy(defs, executor=EXECUTORS[_executor]) if _executor else defs
