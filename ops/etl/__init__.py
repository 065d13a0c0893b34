"""The analytics export: extract at a point in time, load Parquet to the lake, query it on DuckDB or Athena."""
