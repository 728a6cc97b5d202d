"""The SQL models of `dbt_like_sql/`: discovered with what they read (`discovery`), built in DuckDB (`build`), and
what analysts take out of them (`extracts`)."""
