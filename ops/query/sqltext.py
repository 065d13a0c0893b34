"""Statement text fit for a report.

pg_stat_statements stores a statement's text with its constants replaced by $1, $2...
Reports show that normalized text only, and take out what normalization leaves behind:
comments (which may carry values, e.g. sqlcommenter tags), any quoted string or number
that is still there, and the text of utility statements (which PostgreSQL 15 stores
without normalizing). Plans and error messages lose their quoted strings the same way; safe_message
is an error said with no value in it at all, for a log that outlives the answer (the MCP audit log).
"""

from __future__ import annotations

import re

MAX_SHOWN = 400
_JUDGED = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "TABLE")
_PLANNED = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "VALUES", "TABLE")

_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
# Quoted strings: '...' with '' inside (also E'', B'', X'', U&''), and dollar-quoted $tag$...$tag$.
_STRING = re.compile(r"(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'|(?:[BbXx]|[Uu]&)?'(?:[^']|'')*'|\$((?:[A-Za-z_]\w*)?)\$.*?\$\1\$", re.S)
# A number standing alone: not part of an identifier, a $n parameter or a qualified name.
_NUMBER = re.compile(r"(?<![\w$.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?![\w.])")
_SPACE = re.compile(r"\s+")


def strip_comments(text: str) -> str:
    """Comments out; quoted strings left as they are (a '--' inside a string is not a comment)."""
    out, pos = [], 0
    for m in re.finditer(r"(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|/\*.*?\*/|--[^\n]*", text, re.S):
        out.append(text[pos:m.start()])
        out.append(m.group(0) if not m.group(0).startswith(("/*", "--")) else " ")
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def first_keyword(text: str) -> str:
    m = re.match(r"[\s(]*([A-Za-z]+)", strip_comments(text))
    return m.group(1).upper() if m else ""


def kind(text: str) -> str:
    """The statement's command (SELECT, UPDATE...), or 'utility' for anything else."""
    word = first_keyword(text)
    return word if word in _JUDGED else "utility"


def plannable(text: str) -> bool:
    """Statements whose generic plan can show a scan worth an index."""
    return first_keyword(text) in _PLANNED


def redact_strings(text: str) -> str:
    return _STRING.sub("'?'", text)


def shown(text: str | None) -> str:
    """The text a report may carry for a statement."""
    if not text or text.startswith("<insufficient privilege>"):
        return "<text not visible to this user (pg_read_all_stats)>"
    word = first_keyword(text)
    if word not in _JUDGED:
        return f"<{word or 'unknown'} utility statement: text not shown>"
    body = _SPACE.sub(" ", redact_strings(strip_comments(text))).strip()
    body = _NUMBER.sub("?", body)
    return body if len(body) <= MAX_SHOWN else body[: MAX_SHOWN - 1] + "…"


def message(text: str) -> str:
    """An error message with quoted values out, on one line."""
    first = (str(text).strip().splitlines() or [""])[0]
    # Values are quoted after a colon ('invalid input syntax for type integer: "abc"'); names are not.
    return redact_strings(re.sub(r':\s*"[^"]*"', ': "?"', first))


_QUOTED = re.compile(r'"(?:[^"]|"")*(?:"|$)')  # to the end of the line when the closing quote was cut off
# A single-quoted value in an error's text opens where a value can stand, never after a letter: "the workload's
# own user" keeps its apostrophe.
_SINGLE_QUOTED = re.compile(r"(?<![A-Za-z0-9_])'(?:[^']|'')*'")


def safe_message(exc: BaseException | str) -> str:
    """An error for a log: its SQLSTATE and condition name (from the first PostgreSQL error in its chain of causes,
    when there is one) and its first line with every quoted "..." and '...' replaced by "?" and '?'. A value a
    statement read (`SELECT (email)::regclass` -> `schema "customer1@example" does not exist`) is quoted by the
    server, whether it stands where a value or a name stands: all of them go."""
    text = exc if isinstance(exc, str) else _database_error(exc) or exc
    state = getattr(text, "sqlstate", None)
    primary = getattr(getattr(text, "diag", None), "message_primary", None) or str(text)
    first = (primary.strip().splitlines() or [""])[0].strip()
    safe = _QUOTED.sub('"?"', _SINGLE_QUOTED.sub("'?'", first))
    return f"{state} {_condition(state)}: {safe}" if state else safe


def _database_error(exc: BaseException) -> BaseException | None:
    """The first error in exc's chain (exc, its cause or context, theirs...) that carries a SQLSTATE."""
    seen = 0
    item: BaseException | None = exc
    while item is not None and seen < 20:
        if getattr(item, "sqlstate", None):
            return item
        item = item.__cause__ or item.__context__
        seen += 1
    return None


def _condition(state: str) -> str:
    """PostgreSQL's condition name of a SQLSTATE (invalid_schema_name for 3F000), as psycopg names its class."""
    try:
        from psycopg import errors

        name = errors.lookup(state).__name__.rstrip("_")
    except (ImportError, KeyError):
        return "unknown_condition"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
