"""`dbops etl check`: the data-quality rules run again on what is published, the newest batch of each table, and
the Glue catalog compared with it (ops.etl.catalog: what Athena serves is that batch, whole, and nothing else).

The batch's files are read back from S3 as its manifest lists them (each file's SHA-256 checked), so the check
judges what readers of the lake read, not what a run meant to write. Completeness is against the source
count the manifest recorded at T; representable(COLUMN) (a date or timestamp the lake cannot hold, published as
NULL) from the count and keys the manifest recorded at publish, since the published value is NULL. Nothing is
written to the lake.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from ops.etl import catalog, duck, lake, quality, representable
from ops.etl.config import Pipeline
from ops.report import derive_status


def check_published(pipeline: Pipeline, aws: Any, journal: Any) -> Any:
    journal.require("ETL-QUALITY", "ETL-CATALOG")
    s3, glue = aws.client("s3"), aws.client("glue")
    work = Path(tempfile.mkdtemp(prefix="dbops-etl-check-"))
    try:
        tables, counts, keys, ats, schemas = {}, {}, {}, [], {}
        replaced: dict[str, Any] = {}  # table -> its replaced values' keys, as the manifest recorded them
        unrecorded: dict[str, dict[str, tuple[int, int]]] = {}  # table -> column -> (values replaced, keys kept) when fewer kept
        unpublished: list[str] = []
        served: dict[str, list[str]] = {}  # table -> how Glue serves other than its newest published batch
        for spec in pipeline.tables:
            manifest = lake.latest(s3, lake.Place(pipeline.destination.bucket, pipeline.destination.prefix, spec.name))
            if manifest is None:
                unpublished.append(spec.name)
                journal.event("check", f"{spec.name}: nothing published yet")
                continue
            place = lake.Place(pipeline.destination.bucket, pipeline.destination.prefix, spec.name)
            served[spec.name] = catalog.differences(spec.name, catalog.served(glue, pipeline.destination.database, spec.name),
                                                    catalog.published(place, manifest))
            root = lake.download(s3, pipeline.destination.bucket, manifest, work)
            partition = manifest.get("partition")
            # The files as a dataset: the rules scan them (DuckDB, in its memory limit), nothing loads them whole.
            tables[spec.name] = pads.dataset(str(root), format="parquet", partitioning=lake.hive(partition, manifest["columns"])) \
                if manifest["files"] else None
            counts[spec.name] = int(manifest.get("source_rows", manifest["rows"]))
            record = manifest.get("replaced") or {}
            if record and tables[spec.name] is not None:
                replaced[spec.name] = representable.recorded_keys(record, tables[spec.name].schema, tuple(spec.key))
                unrecorded[spec.name] = {c: (r["count"], len(r["keys"])) for c, r in record.items()
                                          if r["count"] > len(r["keys"])}
            keys[spec.name] = list(spec.key)
            schemas[spec.name] = dict(manifest["columns"])
            ats.append(datetime.fromisoformat(manifest["at"]))
            journal.event("check", f"{spec.name}: batch {manifest['batch']} ({manifest['rows']} rows at {manifest['at']})")
        present = {n: t for n, t in tables.items() if t is not None}
        if not ats:
            journal.check("ETL-QUALITY", "unknown", "nothing published: no batch to check")
            journal.check("ETL-CATALOG", "unknown", "nothing published: no batch to compare Glue with")
            return journal.finish(summary=f"INCONCLUSIVE: pipeline {pipeline.name}: nothing published")
        # The rules the run judged: the declared ones and the key's uniqueness (ops.etl.run.judge).
        rules = quality.parse_rules({s.name: quality.with_unique_key(s.rules, s.key) for s in pipeline.tables if s.name in schemas},
                                    schemas, f"pipelines.{pipeline.name}.tables")
        con = duck.connect(memory_limit=duck.RULES_MEMORY, temp_directory=str(work / "_spill"))
        results = with_unrecorded(quality.evaluate(con, present, rules, keys, min(ats), counts,
                                                   replaced={n: d for n, d in replaced.items() if d is not None}), unrecorded)
        verdict = quality.verdict(results, pipeline.min_valid, pipeline.min_complete)
        journal.details["quality"] = [r.as_report() for r in results]
        status = {"pass": "pass", "fail": "fail"}.get(verdict.status, "unknown")
        journal.check("ETL-QUALITY", status, "; ".join([*verdict.failed, *verdict.not_measured]) or
                      f"{len(results)} rule result(s) pass on the published batches")
        wrong = [d for found in served.values() for d in found]
        journal.check("ETL-CATALOG", "fail" if wrong else "pass", "; ".join(wrong) or
                      f"Glue serves the newest published batch of {', '.join(served)}: table location, dbops:batch, columns and "
                      "every partition as the manifest lists them, none other")
        if unpublished:
            journal.check("ETL-PUBLISHED", "unknown", f"never published: {', '.join(unpublished)}: not checked", objective=True)
        final = derive_status(journal.checks, journal.required)
        return journal.finish(summary=f"{final.upper()}: pipeline {pipeline.name}: data quality of the published batches")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def with_unrecorded(results: list[quality.RuleResult],
                    unrecorded: dict[str, dict[str, tuple[int, int]]]) -> list[quality.RuleResult]:
    """The results, where a manifest counted more replaced values of a column than it kept keys of: that column's
    representable rule fails the count recorded, and the table's valid share is not measured (the rows the
    unkept keys name may or may not fail another rule too)."""
    out = []
    for r in results:
        more = unrecorded.get(r.table, {})
        if r.rule == representable.RULE and r.columns[0] in more:
            count, kept = more[r.columns[0]]
            r = replace(r, failing=count, detail=f"{count} values replaced at publish, the keys of the first {kept} kept")
        elif r.rule == "valid" and more:
            r = replace(r, failing=None, failing_keys=(), not_measured=", ".join(
                f"{c}: {count} values replaced at publish, the keys of only {kept} kept" for c, (count, kept) in more.items()))
        out.append(r)
    return out
