from ilms_dagster.assets.ilmq import ilmq_tables
from ilms_dagster.assets.intake import raw_submission

__all__ = ["raw_submission", "ilmq_tables"]
