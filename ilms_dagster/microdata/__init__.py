"""From survey microdata to ILMQ tables: weighted tabulation of labour force survey files.

    mapping = load_mapping("microdata/THA_LFS.yaml")          # the survey's variables and codes -> concepts
    tab = tabulate(mapping, "THA_LFS_2023.dta")                # every stock table, DuckDB SQL from the registry
    write_outputs([tab], "2024", Path("THA_ILMQ_2024.xlsx"))   # the filled template + a sidecar of flags

Modules: concepts (concepts.yaml, dimensions from the registry), mapping (mapping files), readers (CSV,
Parquet, .dta, .sav into DuckDB), sql (the generated SQL), tabulate (cells, thresholds), variance (sampling
errors), output (workbook and sidecar). docs/microdata.md describes the method.
"""

from ilms_dagster.microdata.mapping import Mapping, MicrodataError, load_mapping
from ilms_dagster.microdata.output import SIDECAR_SUFFIX, combine, summary_lines, workbook_values, write_outputs
from ilms_dagster.microdata.tabulate import CELL_COLUMNS, Tabulation, check, tabulate

__all__ = [
    "CELL_COLUMNS",
    "Mapping",
    "MicrodataError",
    "SIDECAR_SUFFIX",
    "Tabulation",
    "check",
    "combine",
    "load_mapping",
    "summary_lines",
    "tabulate",
    "workbook_values",
    "write_outputs",
]
