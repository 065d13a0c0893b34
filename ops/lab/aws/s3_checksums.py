"""The lab's S3 refuses an upload whose body does not match the digest sent with it, as S3 does.

moto stores a PutObject or UploadPart body whatever its Content-MD5 or x-amz-checksum-* header says. S3
computes each digest the request names over the body it received and answers 400 BadDigest on a mismatch,
so a body changed on its way is never stored. A body sent aws-chunked (its checksum in a trailer, which SDKs
use over HTTPS) is left to moto: the lab serves plain HTTP, where the SDKs send the checksum as a header.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Mapping

_installed = False
_DIGESTS = {"content-md5": hashlib.md5, "x-amz-checksum-sha256": hashlib.sha256, "x-amz-checksum-sha1": hashlib.sha1}


def mismatch(headers: Mapping[str, str], body: bytes) -> str | None:
    """The header whose digest (base64, as S3 takes it) the body does not have, or None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "aws-chunked" in lowered.get("content-encoding", ""):
        return None
    for header, algorithm in _DIGESTS.items():
        said = lowered.get(header)
        if said and base64.b64encode(algorithm(body).digest()).decode() != said:
            return header
    return None


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    original = S3Response._key_response_put

    def key_response_put(self: S3Response, query: dict[str, Any], key_name: str) -> Any:
        body = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
        header = mismatch(self.headers, body)
        if header is not None:
            raise S3ClientError("BadDigest", f"The {header} you specified did not match the calculated checksum.")
        return original(self, query, key_name)

    S3Response._key_response_put = key_response_put
    _installed = True
