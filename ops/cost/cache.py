"""On-disk cache of Cost Explorer responses, keyed by the exact query.

Every Cost Explorer request costs 0.01 USD and the data refreshes about three times a day,
so a response is reused for a few hours. The cache counts the paid requests it let through.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

PRICE_PER_REQUEST_USD = 0.01
DEFAULT_TTL_S = 4 * 3600


class CeCache:
    def __init__(self, directory: Path, ttl_s: float = DEFAULT_TTL_S, enabled: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.ttl_s = ttl_s
        self.enabled = enabled
        self.clock = clock
        self.paid_requests = 0
        self.hits = 0

    def _path(self, operation: str, params: dict[str, Any]) -> Path:
        key = json.dumps([operation, params], sort_keys=True, default=str)
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def call(self, operation: str, params: dict[str, Any], fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        path = self._path(operation, params)
        if self.enabled and path.exists() and self.clock() - path.stat().st_mtime < self.ttl_s:
            self.hits += 1
            return json.loads(path.read_text())
        response = fetch()
        self.paid_requests += 1
        response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(response, f, default=str)
        os.replace(tmp, path)
        return response

    @property
    def cost_usd(self) -> float:
        return self.paid_requests * PRICE_PER_REQUEST_USD
