"""Intake: a partition's workbook found in the inbox, archived immutably, parsed and staged (no warehouse lock)."""
