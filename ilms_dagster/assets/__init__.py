from ilms_dagster.assets.ilmq import ilmq_tables
from ilms_dagster.assets.ilostat_files import ILOSTAT_ASSETS
from ilms_dagster.assets.sql_models import MODEL_ASSETS
from ilms_dagster.assets.submission_file import submission_file

__all__ = ["submission_file", "ilmq_tables", "MODEL_ASSETS", "ILOSTAT_ASSETS"]
