"""Arguments are checked against the tool's input schema before the SDK reads them: the SDK's argument models
ignore a name they do not know (a misspelt `target` would widen the answer to every target) and read a bool
the lax way ("yes", "on", 1 as true). Here an unknown name and a bool that is not true or false are refused."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent


def bool_only(schema: dict[str, Any]) -> bool:
    """A property that takes true or false (or null, when optional) and nothing else."""
    types = {schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))} - {None}
    return "boolean" in types and types <= {"boolean", "null"}


def problem(tool: str, schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """What is wrong with the arguments of a call to `tool`, in one line, or None."""
    properties: dict[str, Any] = schema.get("properties") or {}
    unknown = sorted(k for k in arguments if k not in properties)
    if unknown:
        takes = f"{', '.join(properties)} only" if properties else "no arguments"
        return f"bad argument {', '.join(unknown)}: {tool} takes {takes}"
    for name, value in arguments.items():
        if bool_only(properties[name]) and not (value is None or isinstance(value, bool)):
            return f"bad argument {name}: true or false, not {value!r}"
    return None


def checked(server: MCPServer) -> Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]:
    """A server middleware refusing a tools/call whose arguments name what the tool does not take."""
    schemas: dict[str, dict[str, Any]] = {}

    async def check(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        params = ctx.params if isinstance(ctx.params, dict) else {}
        arguments = params.get("arguments")
        if ctx.method != "tools/call" or not isinstance(arguments, dict):
            return await call_next(ctx)  # not a call, or malformed: the SDK's own validation answers
        if not schemas:  # the tools are registered before the first call and never change
            schemas.update({t.name: t.input_schema for t in await server.list_tools()})
        name = str(params.get("name"))
        said = problem(name, schemas[name], arguments) if name in schemas else None
        if said is None:
            return await call_next(ctx)
        return CallToolResult(content=[TextContent(type="text", text=said)], is_error=True)

    return check
