"""The analytics export: extract at a point in time, check data quality, publish Parquet to the lake."""
