"""The analytics export: sources read into Arrow, written to the lake as Parquet, with data-quality gates."""
