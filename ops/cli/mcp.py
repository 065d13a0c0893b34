"""dbops mcp"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ops.cli.context import app
from ops.cli.options import env_option
from ops.errors import UsageError
from ops.mcp.http import TOKEN_ENV


def allow_list(values: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """KIND:NAME entries, comma-separated or repeated: targets drills may run on, or janitor:ENV."""
    from ops.targets import known_kinds

    pairs = set()
    for entry in (e.strip() for value in values for e in value.split(",")):
        kind, sep, name = entry.partition(":")
        if not sep or not kind or not name:
            raise UsageError(f"--allow-drills '{entry}' must be KIND:NAME (a target) or janitor:ENV")
        if kind != "janitor" and kind not in known_kinds():
            raise UsageError(f"--allow-drills '{entry}': unknown kind '{kind}' (known: {', '.join(known_kinds())}, janitor)")
        pairs.add((kind, name))
    return frozenset(pairs)


def bearer_token(token_file: Path | None) -> tuple[str, str]:
    """The token and where it came from: --token-file, $DBOPS_MCP_TOKEN, or generated (never argv: ps shows it)."""
    from ops.mcp.http import check_token, new_token

    if token_file is not None:
        try:
            text = token_file.read_text()
        except OSError as exc:
            raise UsageError(f"--token-file {token_file}: {exc.strerror or exc}") from None
        return check_token(text, f"--token-file {token_file}"), f"--token-file {token_file}"
    if os.environ.get(TOKEN_ENV):
        return check_token(os.environ[TOKEN_ENV], f"${TOKEN_ENV}"), f"${TOKEN_ENV}"
    return new_token(), "generated"


@click.command()
@env_option
@click.option("--http", "bind", metavar="PORT", help="Serve streamable HTTP on 127.0.0.1:PORT (default: stdio).")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
              help=f"Read the bearer token HTTP clients must send from this file (default: ${TOKEN_ENV}, else generated "
                   "and printed once to stderr).")
@click.option("--allow-drills", "allow", metavar="KIND:NAME,...", multiple=True,
              help="Targets the drill tool may run on, and janitor:ENV for the janitor tool (refused on a protected env).")
@click.option("--allow-paid-requests", is_flag=True, help="Let cost_check ask Cost Explorer (0.01 USD a request, counted); default: cache only.")
def mcp(env_name: str | None, bind: str | None, token_file: Path | None, allow: tuple[str, ...],
        allow_paid_requests: bool) -> None:
    """Serve the estate, its reports and runbooks to an assistant over the Model Context Protocol.

    stdio by default (an MCP client starts `dbops mcp` itself); --http PORT serves streamable HTTP on
    127.0.0.1 only, every request with `Authorization: Bearer TOKEN`. Tools are read-only unless
    --allow-drills names what the drill and janitor tools may act on. Every tool call is one line of
    REPORT_DIR/mcp-audit.jsonl."""
    from ops.mcp.http import fingerprint, parse_bind
    from ops.mcp.settings import McpSettings

    port = parse_bind(bind) if bind is not None else None
    if port is None and token_file is not None:
        raise UsageError("--token-file is for --http: over stdio the client starts the server itself")
    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    allowed = allow_list(allow)
    if allowed and env.protected:
        raise UsageError(f"env '{env.name}' is protected: --allow-drills is refused (drills and the janitor never run "
                         "over MCP on a protected env)")
    settings = McpSettings(config_path=app().config_path, env=env.name, protected=env.protected, report_dir=cfg.report_dir,
                           allow_drills=allowed, allow_paid_requests=allow_paid_requests)
    if port is None:
        from ops.mcp.server import run_stdio

        run_stdio(settings)
        return
    from ops.mcp.http import bound
    from ops.mcp.server import run_http

    secret, source = bearer_token(token_file)
    sock = bound(port)  # before anything is printed: a port in use is one line, and no token is shown for nothing
    shown = f"bearer token (shown once): {secret}" if source == "generated" else f"bearer token from {source} ({fingerprint(secret)})"
    run_http(settings, sock, secret, lambda: click.echo(f"dbops mcp: env {env.name}, http://127.0.0.1:{port}/mcp, {shown}", err=True))
