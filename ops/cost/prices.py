"""Refresh the price catalog from the AWS Price List API.

Only Aurora PostgreSQL instance-hour prices (`rds.aurora-postgresql.db.*`) are fetched; every
other entry keeps its own price, source and date. An entry is re-dated only when its price
was actually read, and the catalog's `version` is the date of its newest price.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import botocore.exceptions

LOCATION = "US East (N. Virginia)"
SOURCE = "AWS Price List API"
INSTANCE_PREFIX = "rds.aurora-postgresql.db."


@dataclass(frozen=True)
class RefreshOutcome:
    path: Path
    refreshed: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)  # key -> why it kept its old price and date


def _on_demand_usd(product_json: str) -> float:
    terms = json.loads(product_json)["terms"]["OnDemand"]
    for term in terms.values():
        for dim in term["priceDimensions"].values():
            return float(dim["pricePerUnit"]["USD"])
    raise ValueError("no on-demand price")


def aurora_instance_price(pricing: Any, instance_class: str) -> float:
    filters = [
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_class},
        {"Type": "TERM_MATCH", "Field": "databaseEngine", "Value": "Aurora PostgreSQL"},
        {"Type": "TERM_MATCH", "Field": "location", "Value": LOCATION},
        {"Type": "TERM_MATCH", "Field": "deploymentOption", "Value": "Single-AZ"},
    ]
    products = pricing.get_products(ServiceCode="AmazonRDS", Filters=filters, MaxResults=10)["PriceList"]
    if not products:
        raise ValueError(f"no Aurora PostgreSQL price for {instance_class} in {LOCATION}")
    return _on_demand_usd(products[0])


def catalog_version(catalog: dict[str, Any]) -> str:
    """The date of the newest price in the catalog."""
    return max((str(entry.get("date", "")) for entry in catalog["prices"].values()), default=catalog.get("version", ""))


def refreshable(key: str) -> bool:
    return key.startswith(INSTANCE_PREFIX) and key != INSTANCE_PREFIX + "serverless"


def refresh_catalog(pricing: Any, path: Path, today: date | None = None) -> RefreshOutcome:
    """Re-price the catalog's Aurora instance classes; the rest, and any class the API has no price for, keep their dates.

    A price that cannot be read (no product, a throttled or refused request) is reported in
    `failed`; an error that stops every request (no credentials, endpoint unreachable) raises.
    """
    today = today or date.today()
    catalog = json.loads(path.read_text())
    refreshed: list[str] = []
    failed: dict[str, str] = {}
    for key, entry in catalog["prices"].items():
        if not refreshable(key):
            continue
        try:
            usd = aurora_instance_price(pricing, key[len("rds.aurora-postgresql."):])
        except (ValueError, KeyError) as exc:
            failed[key] = str(exc)
            continue
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error", {})
            failed[key] = f"{err.get('Code')}: {err.get('Message')}"
            continue
        entry.update(usd=usd, source=SOURCE, date=today.isoformat())
        refreshed.append(key)
    catalog["version"] = catalog_version(catalog)
    path.write_text(json.dumps(catalog, indent=2) + "\n")
    return RefreshOutcome(path, tuple(refreshed), failed)
