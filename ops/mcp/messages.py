"""Every tool error reaches the client as one line: the SDK's prefix dropped, an argument that fails the tool's
schema said as `bad argument NAME: WHY` instead of pydantic's multi-line report."""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

_PREFIX = re.compile(r"^Error executing tool [\w.-]+(: )?")
_VALIDATION = re.compile(r"^\d+ validation errors? for \w+$")
_DETAIL = re.compile(r"\s*\[type=[^\]]*\]\s*$")


def one_line(text: str) -> str:
    lines = text.splitlines() or [""]
    prefix = _PREFIX.match(lines[0])
    if prefix is not None and prefix.group(1) is None:  # the SDK's text for a crash: nothing of it reaches the client
        return "unexpected error in the tool (the server's log has its traceback)"
    lines[0] = _PREFIX.sub("", lines[0])
    if not _VALIDATION.match(lines[0]):
        return " ".join(ln.strip() for ln in lines if ln.strip())
    problems, field = [], None
    for line in lines[1:]:
        if not line.startswith(" "):
            field = line.strip()
        elif line.startswith("  ") and not line.startswith("    ") and field is not None:
            problems.append(f"bad argument {field}: {_DETAIL.sub('', line.strip())}")
            field = None
    return "; ".join(problems) or " ".join(ln.strip() for ln in lines)


async def tool_errors_in_one_line(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Server middleware: rewrites the text of an error result of tools/call."""
    result = await call_next(ctx)
    if ctx.method != "tools/call":
        return result
    data = result.model_dump(by_alias=True, exclude_none=True) if hasattr(result, "model_dump") else result
    if not isinstance(data, dict) or not data.get("isError"):
        return result
    text = " ".join(c.get("text", "") for c in data.get("content") or [] if isinstance(c, dict) and c.get("type") == "text")
    return {**data, "content": [{"type": "text", "text": one_line(text)}]}
