"""The SQL models of `dbt_like_sql/` as Dagster assets: one unpartitioned asset per model, keyed
`<schema>/<name>` like its table, with an edge from every asset whose table its SELECT reads.

Adding `dbt_like_sql/<name>.sql` adds the asset, its upstream edges and its documentation; nothing else
changes. The models are the assets of one multi-asset (`sql_models`, subsettable): a run builds those it selects
in one step in the warehouse pool (one DuckDB writer), upstream first, on one connection, each replacing its
table in one transaction; then it publishes the analysts' read copy, so they only ever see a complete set of
models (a run killed midway leaves the warehouse with some models rebuilt: the next `ilms run` rebuilds them all).
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from ilms_dagster.assets.ilmq import SUBMISSIONS_KEY, rows_markdown, table_key
from ilms_dagster.models.build import Built, build
from ilms_dagster.models.discovery import MODEL_SCHEMAS, MODELS_DIR, Model, discover
from ilms_dagster.resources import WAREHOUSE_POOL
from ilms_dagster.resources.warehouse import publish_read_copy

ILOSTAT_IMPORTS_KEY = dg.AssetKey(["raw", "ilostat_imports"])  # the asset of assets/ilostat_files.py
PREVIEW_ROWS = 10

# Rebuild after new data: once any upstream table was updated since the model was last built, and no run
# is still writing upstream (a burst of ingestion runs then gives few rebuilds). Evaluated by the sensor
# `models_after_new_data` (ilms_dagster/assets/operations.py).
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
        columns=[
            dg.TableColumn(name, types.get(name, "unknown until built"), description=text)
            for name, text in model.columns.items()
        ]
    )


def _model_spec(model: Model, models: dict[str, Model]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=model_key(model),
        deps=upstream_keys(model, models),
        description=model.description,
        group_name=model.schema,
        kinds={"duckdb", "sql"},
        owners=["team:data-engineering"],
        tags={"layer": model.schema},
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


def _models_asset(models: dict[str, Model]) -> dg.AssetsDefinition:
    """Every model an asset of one multi-asset: a run builds the models it selects in one step, upstream first,
    on one connection, then publishes the read copy (a step per model cost a connection and six events each)."""

    @dg.multi_asset(
        specs=[_model_spec(m, models) for m in models.values()], name="sql_models", can_subset=True, pool=WAREHOUSE_POOL
    )
    def sql_models(context: dg.AssetExecutionContext, warehouse: DuckDBResource):
        selected = [m for m in models.values() if model_key(m) in context.selected_asset_keys]
        with warehouse.get_connection() as conn:
            for model in selected:
                built = build(conn, model)
                preview = rows_markdown(conn.execute(f"SELECT * FROM {model.table} LIMIT {PREVIEW_ROWS}"))
                context.log.info(f"{model.table}: {built.rows} rows")
                yield dg.MaterializeResult(
                    asset_key=model_key(model),
                    metadata={
                        "dagster/row_count": built.rows,
                        "dagster/column_schema": _column_schema(model, built),
                        "preview": dg.MetadataValue.md(preview or "(no rows)"),
                    },
                )
            publish_read_copy(conn)  # the whole set the run built, published as one

    return sql_models


def model_assets(models_dir: Path = MODELS_DIR) -> list[dg.AssetsDefinition]:
    """The models of `<models_dir>/*.sql` as assets (of one multi-asset, upstream first); a model reading an
    unknown table is a ModelError naming its file, raised when the definitions load."""
    return [_models_asset(discover(models_dir))]


MODEL_ASSETS = model_assets()
