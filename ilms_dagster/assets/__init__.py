from ilms_dagster.assets.ilmq import ilmq_tables
from ilms_dagster.assets.intake import submission_file

__all__ = ["submission_file", "ilmq_tables"]
