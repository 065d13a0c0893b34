"""DescribeOrderableDBInstanceOptions for the Aurora PostgreSQL versions the lab runs.

moto answers the operation from a catalogue that stops at Aurora PostgreSQL 11: for 15.4 it
answers nothing, and it ignores the DBInstanceClass filter. The lab answers, for a version the
catalogue lacks, the classes the catalogue lists for the engine's newest version it has, under
the version asked for, and honours the DBInstanceClass filter (API reference: "The DB instance
class filter value. Specify this parameter to show only the available offerings matching the
specified DB instance class"). `lab set aurora_unorderable_classes` takes classes out of every
answer, as a region or a version that does not offer a class would.
"""

from __future__ import annotations

from typing import Any

from ops.lab.aws import settings

UNORDERABLE_SETTING = "aurora_unorderable_classes"


def _unorderable() -> set[str]:
    return {c.strip() for c in str(settings.get(UNORDERABLE_SETTING)).split(",") if c.strip()}


def install() -> None:
    from moto.rds.models import RDSBackend
    from moto.rds.responses import PaginatedResult, RDSResponse

    settings.register(UNORDERABLE_SETTING, "",
                      "DB instance classes (comma-separated) DescribeOrderableDBInstanceOptions leaves out of every answer")
    original = RDSBackend.describe_orderable_db_instance_options

    def options(self: Any, engine: str, engine_version: str, instance_class: str | None = None) -> list[dict[str, Any]]:
        found = original(self, engine, engine_version)
        if not found and engine_version and engine == "aurora-postgresql":
            every = original(self, engine, None)
            newest = max((o["EngineVersion"] for o in every), key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()),
                         default=None)
            found = [dict(o, EngineVersion=engine_version) for o in every if o["EngineVersion"] == newest]
        left_out = _unorderable()
        return [o for o in found if o["DBInstanceClass"] not in left_out
                and (instance_class is None or o["DBInstanceClass"] == instance_class)]

    RDSBackend.describe_orderable_db_instance_options = options
    def describe_orderable_db_instance_options(self: RDSResponse) -> Any:
        found = self.backend.describe_orderable_db_instance_options(
            self.params.get("Engine"), self.params.get("EngineVersion"), self.params.get("DBInstanceClass") or None)
        return PaginatedResult({"OrderableDBInstanceOptions": found})

    RDSResponse.describe_orderable_db_instance_options = describe_orderable_db_instance_options
