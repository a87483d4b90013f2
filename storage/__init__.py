"""Storage: output roots on pyarrow filesystems (local or URI), snapshot-safe Parquet table commits with a
grace-period vacuum, compaction of small files, host locks, the content-addressed artifact store, the DuckDB
catalog."""
