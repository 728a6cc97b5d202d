"""Dagster plumbing that is not a definition: how the embedded instance connects to its SQLite files
(`sqlite_connections`) and the workarounds for named Dagster bugs (`dagster_workarounds`)."""
