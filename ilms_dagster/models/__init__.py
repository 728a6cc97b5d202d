"""The SQL models of `dbt_like_sql/`: discovered, ordered by what they read, built in DuckDB."""
