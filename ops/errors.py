"""One error family; each carries the exit code DESIGN assigns to it.

0 pass, 1 verdict failed, 2 could not run, 3 aborted, 4 inconclusive (it ran, but an
objective could not be measured: never a pass).
"""

EXIT_PASS = 0
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2
EXIT_ABORTED = 3
EXIT_INCONCLUSIVE = 4


class DbopsError(Exception):
    """An expected failure: printed as one line, no traceback."""

    exit_code = EXIT_CANNOT_RUN


class ConfigError(DbopsError):
    """dbops.toml or the environment is wrong."""


class UsageError(DbopsError):
    """A flag or argument is wrong (unknown env, unknown target kind...)."""


class EndpointUnreachable(DbopsError):
    """An AWS endpoint or database could not be reached."""


class LabError(DbopsError):
    """The embedded lab is not running or could not be started."""


class TerraformError(DbopsError):
    """Terraform failed; the message carries its first error."""


class CannotRun(DbopsError):
    """A drill or check could not start (a pre-check stopped it)."""


class RestoreFailed(DbopsError):
    """A restore that started but will not complete (a broken backup, a hole in the WAL archive):
    a failed objective of the drill, not a reason it could not run."""

    exit_code = 1


class Busy(DbopsError):
    """Another drill holds the target's lock."""


class Aborted(DbopsError):
    """Interrupted by SIGINT or SIGTERM; cleanup ran or was handed to the janitor."""

    exit_code = EXIT_ABORTED


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an error's text, or its type's name when it has none."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def last_line(exc: BaseException) -> str:
    """The last non-blank line (a connection error's is the reason of its last attempt), or the type's name."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def describe(exc: BaseException) -> str | None:
    """One line for an error that means 'could not run' (ours, AWS's, the database's), or None."""
    import sys

    if isinstance(exc, DbopsError):
        return str(exc)
    if "botocore" in sys.modules:
        from ops.aws_errors import describe_aws_error

        text = describe_aws_error(exc)
        if text:
            return text
    if "psycopg" in sys.modules:
        import psycopg

        if isinstance(exc, psycopg.OperationalError):
            return f"database unreachable: {first_line(exc)}"
    return None
