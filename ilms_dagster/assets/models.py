"""The SQL models of `dbt_like_sql/` as Dagster assets: one unpartitioned asset per model, keyed
`<schema>/<name>` like its table, with an edge from every asset whose table its SELECT reads.

Adding `dbt_like_sql/<name>.sql` adds the asset, its upstream edges and its documentation; nothing else
changes. Each model runs in the warehouse pool (one DuckDB writer) and replaces its table in one transaction;
the last model of a run publishes the analysts' read copy, so they only ever see a complete set of models
(a run killed midway leaves the warehouse with some models rebuilt: the next `ilms run` rebuilds them all).
"""

from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from ilms_dagster.assets.ilmq import SUBMISSIONS_KEY, table_key

ILOSTAT_IMPORTS_KEY = dg.AssetKey(["raw", "ilostat_imports"])  # the asset of assets/ilostat.py
from ilms_dagster.models import MODEL_SCHEMAS, MODELS_DIR, Built, Model, build, discover
from ilms_dagster.resources import WAREHOUSE_POOL
from ilms_dagster.resources.warehouse import publish_read_copy

PREVIEW_ROWS = 10

# Rebuild after new data: once any upstream table was updated since the model was last built, and no run
# is still writing upstream (a burst of ingestion runs then gives few rebuilds). Evaluated by the sensor
# `models_after_new_data` (ilms_dagster/operations.py).
MODELS_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild after new data")


def model_key(model: Model) -> dg.AssetKey:
    return dg.AssetKey([model.schema, model.name])


def upstream_keys(model: Model, models: dict[str, Model]) -> list[dg.AssetKey]:
    """Asset keys of the tables the model reads. validation.* (written by the checks) and the registry
    tables (written by the runner itself) are read but are no assets."""
    keys = []
    for schema, name in model.reads:
        if (schema, name) == tuple(SUBMISSIONS_KEY.path):
            keys.append(SUBMISSIONS_KEY)
        elif (schema, name) == tuple(ILOSTAT_IMPORTS_KEY.path):
            keys.append(ILOSTAT_IMPORTS_KEY)
        elif schema == "ilmq":
            keys.append(table_key(name))
        elif schema in MODEL_SCHEMAS and name in models:
            keys.append(model_key(models[name]))
    return keys


def _column_schema(model: Model, built: Built | None = None) -> dg.TableSchema:
    types = dict(built.columns) if built else {}
    return dg.TableSchema(
        columns=[dg.TableColumn(name, types.get(name, "unknown until built"), description=text)
                 for name, text in model.columns.items()]  # fmt: skip
    )


def _model_asset(model: Model, models: dict[str, Model]) -> dg.AssetsDefinition:
    @dg.asset(
        key=model_key(model),
        deps=upstream_keys(model, models),
        description=model.description,
        group_name=model.schema,
        kinds={"duckdb", "sql"},
        owners=["team:data-engineering"],
        tags={"layer": model.schema},
        pool=WAREHOUSE_POOL,
        automation_condition=MODELS_AUTOMATION,
        metadata={
            "dagster/table_name": model.table,
            "dagster/column_schema": _column_schema(model),
            "dagster/code_references": dg.CodeReferencesMetadataValue(
                code_references=[dg.LocalFileCodeReference(file_path=str(model.path), line_number=1)]
            ),
            "reads": ", ".join(f"{s}.{n}" for s, n in model.reads),
        },
    )
    def _model(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
        with warehouse.get_connection() as conn:
            built = build(conn, model)
            preview: pd.DataFrame = conn.execute(f"SELECT * FROM {model.table} LIMIT {PREVIEW_ROWS}").df()
            if _last_of_run(context, model, models):  # the whole set is built: publish it as one
                publish_read_copy(conn)
        context.log.info(f"{model.table}: {built.rows} rows")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": built.rows,
                "dagster/column_schema": _column_schema(model, built),
                "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(no rows)"),
            }
        )

    return _model


def _last_of_run(context: dg.AssetExecutionContext, model: Model, models: dict[str, Model]) -> bool:
    """Whether `model` is the last of the models this run builds (they run upstream first, in discover order):
    the read copy is published once per models run, with every model of the run rebuilt, never a partial set."""
    selected = context.job_def.asset_layer.selected_asset_keys
    in_run = [m for m in models.values() if model_key(m) in selected]
    return not in_run or in_run[-1].name == model.name


def model_assets(models_dir: Path = MODELS_DIR) -> list[dg.AssetsDefinition]:
    """One asset per `<models_dir>/*.sql`, upstream first; a model reading an unknown table is a
    ModelError naming its file, raised when the definitions load."""
    models = discover(models_dir)
    return [_model_asset(m, models) for m in models.values()]


MODEL_ASSETS = model_assets()
