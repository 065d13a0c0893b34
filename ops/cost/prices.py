"""Rebuild the price catalog from the AWS Price List API."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

LOCATION = "US East (N. Virginia)"
SOURCE = "AWS Price List API"


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
        raise ValueError(f"no Aurora PostgreSQL price for {instance_class}")
    return _on_demand_usd(products[0])


def refresh_catalog(pricing: Any, path: Path, today: date | None = None) -> Path:
    """Re-price the instance classes of the catalog from the Price List API; keep the rest, re-dated."""
    today = today or date.today()
    catalog = json.loads(path.read_text())
    for key, entry in catalog["prices"].items():
        if key.startswith("rds.aurora-postgresql."):
            entry.update(usd=aurora_instance_price(pricing, key.split(".", 2)[2]), source=SOURCE, date=today.isoformat())
    catalog["version"] = today.isoformat()
    path.write_text(json.dumps(catalog, indent=2) + "\n")
    return path
