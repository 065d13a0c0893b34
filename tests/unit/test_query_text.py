"""What a report may say about a statement: normalized text only, no literal, no comment."""

from __future__ import annotations

import pytest

from ops.query import sqltext


@pytest.mark.parametrize("text, secret", [
    ("SELECT * FROM t WHERE a = $1 /* user_id=4711 */", "4711"),
    ("SELECT * FROM t WHERE a = $1 -- customer alice@example.com", "alice"),
    ("SELECT * FROM t WHERE note = 'hunter2'", "hunter2"),
    ("SELECT * FROM t WHERE note = E'it\\'s hunter2'", "hunter2"),
    ("SELECT * FROM t WHERE note = 'it''s hunter2'", "hunter2"),
    ("SELECT $tag$hunter2$tag$, $$hunter2$$", "hunter2"),
    ("SELECT * FROM t WHERE id = 987654321", "987654321"),
    ("SELECT * FROM t WHERE x > 1.5e3", "1.5e3"),
])
def test_a_literal_or_comment_left_in_a_statement_is_never_shown(text: str, secret: str) -> None:
    shown = sqltext.shown(text)
    assert secret not in shown
    assert shown.startswith("SELECT")


def test_parameters_identifiers_and_structure_are_kept() -> None:
    text = "SELECT t1.id, t1.col2 FROM s1.t1 WHERE t1.customer_id = $1 ORDER BY created_at DESC LIMIT $2"
    assert sqltext.shown(text) == text


@pytest.mark.parametrize("text", ["SET password_encryption = 'md5'", "ALTER ROLE app PASSWORD 'hunter2'", "COPY t FROM '/secret'",
                                  "CREATE TABLE t (a text DEFAULT 'hunter2')"])
def test_utility_statements_show_their_command_only(text: str) -> None:
    # PostgreSQL 15 keeps utility statements' text as written, literals included.
    shown = sqltext.shown(text)
    assert shown.startswith("<") and "utility statement" in shown
    assert "hunter2" not in shown and "md5" not in shown and "/secret" not in shown


def test_invisible_text_says_why() -> None:
    assert "pg_read_all_stats" in sqltext.shown("<insufficient privilege>")
    assert "pg_read_all_stats" in sqltext.shown(None)


def test_long_text_is_cut() -> None:
    shown = sqltext.shown("SELECT " + ", ".join(f"c{i}" for i in range(500)) + " FROM t")
    assert len(shown) == sqltext.MAX_SHOWN and shown.endswith("…")


@pytest.mark.parametrize("text, kind, plannable", [
    ("  (SELECT 1)", "SELECT", True), ("with x as (select 1) select * from x", "WITH", True),
    ("/* c */ UPDATE t SET a = $1", "UPDATE", True), ("INSERT INTO t VALUES ($1)", "INSERT", True),
    ("VACUUM t", "utility", False), ("", "utility", False),
])
def test_statement_kinds(text: str, kind: str, plannable: bool) -> None:
    assert sqltext.kind(text) == kind
    assert sqltext.plannable(text) is plannable


def test_parameters_are_counted_outside_strings_and_comments() -> None:
    from ops.query.guard import prepared_select

    assert prepared_select("SELECT $1, $12 FROM t WHERE a = '$40' /* $50 */") == ("SELECT $1, $12 FROM t WHERE a = '$40' /* $50 */", 12)
    assert prepared_select("SELECT 1") == ("SELECT 1", 0)


def test_error_messages_lose_quoted_values_and_keep_names() -> None:
    text = sqltext.message('ERROR:  invalid input syntax for type integer: "hunter2"\nDETAIL: more')
    assert "hunter2" not in text and "DETAIL" not in text
    assert 'relation "orders.orders"' in sqltext.message('relation "orders.orders" does not exist')
    assert "hunter2" not in sqltext.message("ERROR: value 'hunter2' is wrong")


def test_safe_message_names_the_sqlstate_and_drops_every_quoted_value() -> None:
    import psycopg

    from ops.errors import CannotRun

    try:
        try:
            raise psycopg.errors.InvalidTextRepresentation('invalid input syntax for type integer: "hunter2"')
        except psycopg.Error:
            raise CannotRun('the statement failed: invalid input syntax for type integer: "hunter2"') from None
    except CannotRun as exc:
        wrapped = exc
    assert sqltext.safe_message(wrapped) == '22P02 invalid_text_representation: invalid input syntax for type integer: "?"'
    assert sqltext.safe_message('relation "secret_table" does not exist, near \'x@y\'') == \
        "relation \"?\" does not exist, near '?'"
    assert sqltext.safe_message(ValueError('bad "value"\nDETAIL: more')) == 'bad "?"'
    assert sqltext.safe_message(psycopg.errors.InternalError_("x")) == "XX000 internal_error: x"


def test_only_a_lost_connection_is_called_a_connection_failure() -> None:
    import psycopg

    from ops.query.readonly import _failure

    label = "a reader of localpg:lab-pg"
    assert str(_failure(psycopg.errors.ProgramLimitExceeded("null character not permitted"), 5000, label)) == \
        "the statement failed: null character not permitted"
    assert str(_failure(psycopg.errors.OutOfMemory("out of memory"), 5000, label)) == "the statement failed: out of memory"
    for lost in (psycopg.OperationalError("server closed the connection unexpectedly"),
                 psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
                 psycopg.errors.ConnectionFailure("connection failure")):
        assert str(_failure(lost, 5000, label)).startswith(f"the connection to {label} failed: ")


def test_safe_message_masks_a_quoted_value_whose_closing_quote_was_cut_off() -> None:
    assert sqltext.safe_message('error: schema "customer1@exam') == 'error: schema "?"'


def test_safe_message_keeps_an_apostrophe_and_masks_a_value_quoted_after_it() -> None:
    said = "refused: the workload's own user cannot read 'orders' (the target's policy)"
    assert sqltext.safe_message(said) == "refused: the workload's own user cannot read '?' (the target's policy)"
