"""Text that a spreadsheet must never take for a formula: a cell starting with `=`, `+`, `-`, `@` (or a tab or
carriage return, which Excel skips before reading one) stays text (OWASP "CSV injection")."""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: object) -> object:
    """A string that would start a formula, prefixed with an apostrophe (CSV); anything else unchanged."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def inert_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell made inert (numbers, negative ones included, stay numbers)."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):  # object or pandas' str dtype
            out[column] = out[column].map(inert)
    return out


def write_csv(frame: pd.DataFrame, path) -> None:
    inert_frame(frame).to_csv(path, index=False, lineterminator="\n")
