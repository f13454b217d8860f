"""Every expected failure is a SqlmigError: a message, where it happened, and what to do next.

The CLI maps each class to its exit code; nothing below the CLI exits or prints.
Exit codes are a contract with scripts (README, "Exit codes"): keep this table and the README in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILED = 1  # a migration (or a lint error) failed
EXIT_INVALID = 2  # invalid input or usage; nothing was changed
EXIT_DRIFT = 3  # drift or integrity: files differ from what was applied
EXIT_LOCKED = 4  # the migration lock was not acquired in time
EXIT_INTERRUPTED = 130  # Ctrl-C: a batched migration stopped between two batches
EXIT_TERMINATED = 143  # SIGTERM (a deploy's timeout, a pod stopped): handled as Ctrl-C is


@dataclass
class ServerError:
    """What PostgreSQL said about a failed statement (from psycopg's Diagnostic)."""

    sqlstate: str | None
    message: str
    detail: str | None = None
    hint: str | None = None
    position: int | None = None
    context: str | None = None  # e.g. "PL/pgSQL function inline_code_block line 3 at RAISE"

    def lines(self) -> list[str]:
        out = [f"{self.sqlstate or '?????'}: {self.message}"]
        if self.detail:
            out.append(f"DETAIL: {self.detail}")
        if self.hint:
            out.append(f"HINT: {self.hint}")
        if self.context:
            out += [f"CONTEXT: {line}" for line in self.context.splitlines()[:3]]
        return out


class SqlmigError(Exception):
    """Base class. `where` is file:line when known; `hint` says what to do next."""

    exit_code = EXIT_INVALID

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        details: list[str] | None = None,
        server: ServerError | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.details = details or []
        self.server = server

    def render(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        lines = [f"error: {head}"]
        lines += [f"  {d}" for d in self.details]
        if self.server:
            lines += [f"  {line}" for line in self.server.lines()]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out: dict = {"error": type(self).__name__, "message": self.message, "exit_code": self.exit_code}
        if self.where:
            out["where"] = self.where
        if self.details:
            out["details"] = self.details
        if self.server:
            out["server"] = {
                "sqlstate": self.server.sqlstate,
                "message": self.server.message,
                "detail": self.server.detail,
                "hint": self.server.hint,
            }
        if self.hint:
            out["hint"] = self.hint
        return out


class UsageError(SqlmigError):
    """Bad flags, arguments or configuration."""

    exit_code = EXIT_INVALID


class ProjectError(SqlmigError):
    """The migration files are malformed: naming, pairing, parsing, manifests."""

    exit_code = EXIT_INVALID


class RefusedError(SqlmigError):
    """sqlmig declined to act: a point of no return without --yes, a rollback across one."""

    exit_code = EXIT_INVALID


class ConnectionFailed(SqlmigError):
    """The database could not be reached, or the embedded server did not start."""

    exit_code = EXIT_FAILED


class MigrationFailed(SqlmigError):
    """A statement failed on the server; the migration was rolled back (or stopped, without a transaction)."""

    exit_code = EXIT_FAILED


class DriftError(SqlmigError):
    """Files differ from what was applied, or an integrity check failed."""

    exit_code = EXIT_DRIFT


class BackupFailed(SqlmigError):
    """The pg_dump a `backup: required` point of no return asks for failed (or no matching pg_dump); nothing ran."""

    exit_code = EXIT_FAILED


class LockNotAcquired(SqlmigError):
    """Another sqlmig holds the migration lock for longer than --lock-wait."""

    exit_code = EXIT_LOCKED


class BatchInterrupted(SqlmigError):
    """Ctrl-C during a batched migration: it stopped after its current batch committed; apply resumes it."""

    exit_code = EXIT_INTERRUPTED


class BatchPaused(SqlmigError):
    """A batched migration reached its manifest's max_rows for this run; the next apply continues it."""

    exit_code = EXIT_OK

    def render(self) -> str:
        return "paused: " + super().render().removeprefix("error: ")


@dataclass
class Interrupted(Exception):
    """Ctrl-C arrived; raised after the current unit of work finished cleanly."""

    what: str = field(default="interrupted")
