from ilms_dagster.assets.ilmq import ilmq_tables
from ilms_dagster.assets.intake import submission_file
from ilms_dagster.assets.models import MODEL_ASSETS
from ilms_dagster.assets.ilostat import ILOSTAT_ASSETS

__all__ = ["submission_file", "ilmq_tables", "MODEL_ASSETS", "ILOSTAT_ASSETS"]
