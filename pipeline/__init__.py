"""Engine-free curation stages: one video → rows of every table; one shard → staged Parquet files.

Nothing here imports Prefect or Ray: flows/ runs these inside Ray tasks, tests run them directly.
"""
