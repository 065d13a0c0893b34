"""The price catalog, keyed by region, and its refresh from the AWS Price List API.

On disk (ops/cost/prices.json, or the user's refreshed copy) the catalog is
`{"version", "note", "regions": {REGION: {"prices": {KEY: entry}}}}`: a price is read for the
env's region and never stands in for another region's. `regional()` gives one region's view
(`{"version", "region", "prices"}`), the shape the estimate and the drills read.

A refresh re-reads only Aurora PostgreSQL instance-hour prices (`rds.aurora-postgresql.db.*`)
of one region; every other entry keeps its own price, source and date. An entry is re-dated only
when its price was actually read, and a region's `version` is the date of its newest price.
Each price is asked for by its usage type (`[PREFIX-]InstanceUsage:CLASS`), instance class,
region code, engine and deployment option; exactly one product must answer: none, or more than
one, is reported for that class, never the first of several taken.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import botocore.exceptions

from ops.errors import ConfigError
from ops.permissions import declare, need

SOURCE = "AWS Price List API"

# `cost prices --refresh`: the Price List API (us-east-1).
CALLS = declare("cost.prices", need("pricing:GetProducts", on="*"))
INSTANCE_PREFIX = "rds.aurora-postgresql.db."

# Usage type prefixes of the regions outside us-east-1, as the Price List and Cost Explorer write
# them (us-east-1's usage types have none).
REGION_PREFIX = {
    "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2", "ca-central-1": "CAN1",
    "eu-west-1": "EU", "eu-west-2": "EUW2", "eu-west-3": "EUW3", "eu-central-1": "EUC1", "eu-north-1": "EUN1",
    "eu-south-1": "EUS1", "ap-northeast-1": "APN1", "ap-northeast-2": "APN2", "ap-northeast-3": "APN3",
    "ap-southeast-1": "APS1", "ap-southeast-2": "APS2", "ap-south-1": "APS3", "sa-east-1": "SAE1",
}


def usage_type(region: str, name: str) -> str:
    """The region's usage type of `name`; a region whose prefix is not known is a ValueError."""
    if region == "us-east-1":
        return name
    if region not in REGION_PREFIX:
        raise ValueError(f"the Price List usage-type prefix of region {region} is not known (REGION_PREFIX)")
    return f"{REGION_PREFIX[region]}-{name}"


@dataclass(frozen=True)
class RefreshOutcome:
    path: Path
    refreshed: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)  # key -> why it kept its old price and date


def regions_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The catalog's regions; a catalog written before regions were keyed holds its one `region`."""
    if "regions" in data:
        return data["regions"]
    return {data.get("region", "us-east-1"): {"prices": data.get("prices", {})}}


def regional(data: dict[str, Any], region: str, where: str = "the price catalog") -> dict[str, Any]:
    """One region's prices as `{"version", "region", "prices"}`; a region the catalog lacks is a ConfigError."""
    regions = regions_of(data)
    if region not in regions:
        raise ConfigError(f"{where} has no prices for region {region} (it has {', '.join(sorted(regions)) or 'none'}): "
                          f"run `dbops cost prices --refresh` with an env in {region}, or add them")
    prices = regions[region]["prices"]
    validate_prices(prices, f"{where}, region {region}")
    return {"version": catalog_version({"prices": prices}), "region": region, "note": data.get("note", ""), "prices": prices}


def validate_prices(prices: Any, where: str) -> None:
    """Every price a finite number >= 0: a NaN, an infinity or a negative price compares false with any
    bound (`cost > max_cost`), so a catalog carrying one would let every cost through. The user's refreshed
    copy is writable by hand; a bad entry is a ConfigError naming the file and the key."""
    if not isinstance(prices, dict):
        raise ConfigError(f"{where}: 'prices' is not a table of entries")
    for key, entry in prices.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: price '{key}' is not an entry with 'usd' or 'factor'")
        for field_name in ("usd", "factor"):
            if field_name not in entry:
                continue
            value = entry[field_name]
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if number is None or not math.isfinite(number) or number < 0:
                raise ConfigError(f"{where}: price '{key}' has {field_name} {value!r}: a price must be a finite number >= 0")
        if "usd" not in entry and "factor" not in entry:
            raise ConfigError(f"{where}: price '{key}' has neither 'usd' nor 'factor'")


def _on_demand_usd(product: dict[str, Any]) -> float:
    terms = product["terms"]["OnDemand"]
    dims = [dim for term in terms.values() for dim in term["priceDimensions"].values()]
    if len(dims) != 1:
        raise ValueError(f"{len(dims)} on-demand price dimensions, expected one")
    return float(dims[0]["pricePerUnit"]["USD"])


def _sku(product: dict[str, Any]) -> str:
    return str(product.get("product", {}).get("sku", "?"))


def aurora_instance_price(pricing: Any, instance_class: str, region: str) -> float:
    usage = usage_type(region, f"InstanceUsage:{instance_class}")  # Aurora Standard; I/O-Optimized is InstanceUsageIOOptimized
    filters = [
        {"Type": "TERM_MATCH", "Field": "usagetype", "Value": usage},
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_class},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "databaseEngine", "Value": "Aurora PostgreSQL"},
        {"Type": "TERM_MATCH", "Field": "deploymentOption", "Value": "Single-AZ"},
    ]
    products = [json.loads(item) for page in pricing.get_paginator("get_products").paginate(ServiceCode="AmazonRDS", Filters=filters)
                for item in page.get("PriceList", [])]
    if not products:
        raise ValueError(f"no Aurora PostgreSQL price for {instance_class} ({usage}) in {region}")
    if len(products) > 1:
        raise ValueError(f"{len(products)} products match {usage} for Aurora PostgreSQL in {region} "
                         f"(SKUs {', '.join(sorted(_sku(p) for p in products))}): the price is ambiguous, none taken")
    return _on_demand_usd(products[0])


def catalog_version(catalog: dict[str, Any]) -> str:
    """The date of the newest price in a region's prices (or in every region of an on-disk catalog)."""
    prices = catalog["prices"].values() if "prices" in catalog else [
        entry for r in catalog["regions"].values() for entry in r["prices"].values()]
    return max((str(entry.get("date", "")) for entry in prices), default=catalog.get("version", ""))


def refreshable(key: str) -> bool:
    return key.startswith(INSTANCE_PREFIX) and key != INSTANCE_PREFIX + "serverless"


def refresh_catalog(pricing: Any, path: Path, region: str, today: date | None = None) -> RefreshOutcome:
    """Re-price the Aurora instance classes of `region` in the catalog at path; the rest, and any class the API
    has no single price for, keep their dates. A region the catalog lacks is added with the instance classes
    any region lists (its other prices stay absent: resources needing them are listed unpriced).

    A price that cannot be read (no product, several, a throttled or refused request) is reported in
    `failed`; an error that stops every request (no credentials, endpoint unreachable) raises.
    """
    today = today or date.today()
    data = json.loads(path.read_text())
    regions = regions_of(data)
    known = sorted({k for r in regions.values() for k in r["prices"] if refreshable(k)})
    prices = dict(regions.get(region, {"prices": {}})["prices"])
    refreshed: list[str] = []
    failed: dict[str, str] = {}
    for key in sorted(set(known) | {k for k in prices if refreshable(k)}):
        try:
            usd = aurora_instance_price(pricing, key[len("rds.aurora-postgresql."):], region)
        except (ValueError, KeyError) as exc:
            failed[key] = str(exc)
            continue
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            failed[key] = f"{err.get('Code')}: {one_line(err.get('Message'))}" + (f" (HTTP {status})" if status else "")
            continue
        prices[key] = {**prices.get(key, {"unit": "instance-hour"}), "usd": usd, "source": SOURCE, "date": today.isoformat()}
        refreshed.append(key)
    if not refreshed:  # nothing read: the catalog is left as it was, not rewritten
        return RefreshOutcome(path, (), failed)
    regions[region] = {**regions.get(region, {}), "prices": prices}
    out = {"version": "", "note": data.get("note", ""), "regions": regions}
    out["version"] = catalog_version(out)
    path.write_text(json.dumps(out, indent=2) + "\n")
    return RefreshOutcome(path, tuple(refreshed), failed)


def one_line(message: Any, limit: int = 200) -> str:
    """An error message as one short line: an HTML error page (a proxy's, an emulator's) loses its tags."""
    text = re.sub(r"<[^>]*>", " ", str(message or ""))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
