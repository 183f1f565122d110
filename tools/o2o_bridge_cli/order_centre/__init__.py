"""The order centre in the CLI: the reports over the document ledger (o2o report), their
engines (DuckDB locally, Athena in AWS) and their forms (table, csv, xlsx, html)."""
