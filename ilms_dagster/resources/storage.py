"""Where files live: the inbox, the immutable archive, per-partition staging, feedback reports and samples."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from ilms_dagster.resources.locations import PROJECT_ROOT, data_dir  # noqa: F401  (re-exported)


class IlmsStorage(dg.ConfigurableResource):
    """File locations. The inbox holds `<round>/<ISO3>*.xlsx`; when it holds no workbook at all the
    bundled sample submissions (generated on first use) stand in for it."""

    data_dir: str
    inbox_dir: str

    @property
    def inbox(self) -> Path:
        return Path(self.inbox_dir)

    @property
    def archive(self) -> Path:
        return Path(self.data_dir) / "archive"

    @property
    def staging(self) -> Path:
        return Path(self.data_dir) / "staging"

    @property
    def feedback(self) -> Path:
        """Validation reports for focal points: `<round>/<ISO3>_feedback_<sha12>.xlsx`."""
        return Path(self.data_dir) / "feedback"

    @property
    def microdata(self) -> Path:
        """Survey files to tabulate: `<round>/<ISO3>_<SURVEY>_<YEAR>.{csv,parquet,dta,sav}` (ilms_dagster/microdata)."""
        return Path(self.data_dir) / "microdata"

    @property
    def ilostat(self) -> Path:
        """Published ILOSTAT bulk CSV files (`*.csv`, `*.csv.gz`) the import asset loads as the oldest vintage."""
        return Path(self.data_dir) / "ilostat"

    @property
    def exports(self) -> Path:
        """Exports per round: `<round>/ilostat/<indicator>.csv` and `<round>/sdmx/DF_<indicator>.csv`."""
        return Path(self.data_dir) / "exports"

    @property
    def publication(self) -> Path:
        """Charts, pages, release workbook and report per round: `<round>/` (ilms_dagster/publication)."""
        return Path(self.data_dir) / "publication"

    @property
    def samples(self) -> Path:
        return Path(self.data_dir) / "samples"


def default_storage() -> IlmsStorage:
    root = data_dir()
    return IlmsStorage(data_dir=str(root), inbox_dir=os.environ.get("ILMS_INBOX") or str(root / "inbox"))
