"""dbops etl: batch exports of the estate's data into an analytics lake, at a point in time, never from the writer."""

import os

# Arrow's allocator: jemalloc gives freed memory back to the system, while mimalloc (pyarrow's default) keeps
# what each partitioned write of the spool freed: a run of 10 M rows then held 1.3x the memory of a run of 1 M
# (benchmarks/etl_throughput.py). Arrow reads this once, when pyarrow is first loaded; a value set is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
