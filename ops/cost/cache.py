"""On-disk cache of Cost Explorer responses, keyed by who asked, where, and the exact query.

Every Cost Explorer request costs 0.01 USD and the data refreshes about three times a day,
so a response is reused for a few hours. The cache counts the paid requests it let through.

A key is account + endpoint + region + operation + parameters: the lab and prod (or two
accounts) asking the same question never share an answer, though they share the directory.
When the account cannot be read, there is no safe key, and the cache is off for the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ops.aws import safe_read

PRICE_PER_REQUEST_USD = 0.01
DEFAULT_TTL_S = 4 * 3600


@dataclass(frozen=True)
class CacheScope:
    """Whose answers a cache entry holds: the account, the endpoint ("aws" for AWS itself) and the region."""

    account: str
    endpoint: str
    region: str


class CeCache:
    def __init__(self, directory: Path, scope: CacheScope | None, ttl_s: float = DEFAULT_TTL_S, enabled: bool = True,
                 clock: Callable[[], float] = time.time, off_reason: str | None = None) -> None:
        self.directory = directory
        self.scope = scope
        self.ttl_s = ttl_s
        self.off_reason = off_reason if scope is not None else (off_reason or "no account to key the cache by")
        self.enabled = enabled and scope is not None
        self.clock = clock
        self.paid_requests = 0
        self.hits = 0

    def _path(self, operation: str, params: dict[str, Any]) -> Path:
        assert self.scope is not None
        scope = [self.scope.account, self.scope.endpoint, self.scope.region]
        key = json.dumps([scope, operation, params], sort_keys=True, default=str)
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def call(self, operation: str, params: dict[str, Any], fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        path = self._path(operation, params) if self.scope is not None else None
        if self.enabled and path is not None and path.exists() and self.clock() - path.stat().st_mtime < self.ttl_s:
            self.hits += 1
            return json.loads(path.read_text())
        response = fetch()
        self.paid_requests += 1
        response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        if path is None:
            return response
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(response, f, default=str)
        os.replace(tmp, path)
        return response

    @property
    def cost_usd(self) -> float:
        return self.paid_requests * PRICE_PER_REQUEST_USD


def scoped_cache(directory: Path, read_account: Callable[[], str], endpoint: str | None, region: str,
                 enabled: bool = True) -> CeCache:
    """A cache keyed by the caller's account (read_account, e.g. STS GetCallerIdentity), the endpoint
    (None: AWS itself) and the region; off, with the reason in one line, when the account cannot be read."""
    account = safe_read(read_account)
    if not account.ok or not account.value:
        reason = f"the account id could not be read ({account.error or 'empty answer'}); every request goes to Cost Explorer"
        return CeCache(directory, None, enabled=False, off_reason=reason)
    return CeCache(directory, CacheScope(str(account.value), endpoint or "aws", region), enabled=enabled)
