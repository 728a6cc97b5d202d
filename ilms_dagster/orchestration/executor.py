"""Which executor runs the steps of a run: in-process (default: `ilms run`, `ilms dev`, tests) or Celery
workers (the production topology of `ilms deploy up`, docs/deployment.md).

ILMS_EXECUTOR=celery with ILMS_CELERY_BROKER (and ILMS_CELERY_BACKEND) set in the code server's and the
workers' environment sends every step to the Celery queue "dagster". The definitions are the same: the
parse-and-validate step (submission_file) stages Parquet and takes no lock, so any number run side by side
on the workers; the load step (ilmq_tables) and the models are in pool duckdb_warehouse, whose one slot the
run claims before it submits the step, so only one worker at a time opens the DuckDB file.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTOR_ENV, BROKER_ENV, BACKEND_ENV = "ILMS_EXECUTOR", "ILMS_CELERY_BROKER", "ILMS_CELERY_BACKEND"


def run_executor() -> dg.ExecutorDefinition:
    choice = os.environ.get(EXECUTOR_ENV, "in_process")
    if choice == "in_process":
        return dg.in_process_executor
    if choice != "celery":
        raise ValueError(f"{EXECUTOR_ENV}={choice!r}: expected 'in_process' or 'celery'")
    broker = os.environ.get(BROKER_ENV)
    if not broker:
        raise ValueError(f"{EXECUTOR_ENV}=celery needs {BROKER_ENV} (e.g. redis://127.0.0.1:6379/0)")
    from dagster_celery import celery_executor

    return celery_executor.configured({"broker": broker, "backend": os.environ.get(BACKEND_ENV, broker)}, name="celery")
