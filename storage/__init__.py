"""Storage: the on-disk layout, atomic Parquet table commits, the content-addressed artifact store, DuckDB catalog."""
