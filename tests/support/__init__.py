"""Harnesses the tests and benchmarks share (a real `dagster dev` driven through its GraphQL API)."""
