"""SQL text -> Statement objects, using sqlglot's PostgreSQL tokenizer for the boundaries.

The tokenizer knows dollar quotes, E'' strings, quoted identifiers and nested block
comments, so a semicolon inside any of them never splits. Each Statement keeps the
author's exact text (a slice of the file, byte for byte) and its starting line; that
slice is what reaches the server. sqlglot's parse tree is used for analysis only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlmig.errors import ProjectError


@dataclass(frozen=True)
class Statement:
    """One statement: `text` is the author's original text without the closing semicolon."""

    text: str
    line: int
    column: int
    index: int  # 0-based position in its file
    path: str = ""
    offset: int = 0  # where `text` starts in the file's text
    keywords: tuple[str, ...] = ()  # upper-cased leading words, for classification
    comments_before: tuple[str, ...] = ()  # comment lines between the previous statement and this one
    # sqlglot's tokens (offsets in the file), or a function of `index` that gives them: a statement from
    # sqlmig.statement_cache is tokenized only when something reads them
    token_source: Any = field(default=(), compare=False, repr=False)
    words: tuple[str, ...] | None = field(default=None, compare=False, repr=False)  # ddl.words, when known

    @property
    def tokens(self) -> tuple[Any, ...]:
        source = self.token_source
        if callable(source):
            source = tuple(source(self.index))
            object.__setattr__(self, "token_source", source)  # frozen: computed once, like a cached_property
        return source

    @property
    def kind(self) -> str:
        """A short statement kind such as 'CREATE INDEX', 'ALTER TABLE' or 'UPDATE'."""
        from sqlmig import postgres

        return postgres.statement_kind(self)

    @property
    def first_line(self) -> str:
        return self.text.strip().splitlines()[0] if self.text.strip() else ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path else f"line {self.line}"

    def parse(self) -> Any | None:
        """sqlglot's tree for this statement, or None when sqlglot cannot parse it fully."""
        return parse_statement(self.text)


_PARSE_CACHE: dict[str, Any] = {}


def parse_statement(text: str) -> Any | None:
    """Parse one statement with sqlglot (postgres dialect). None on failure or a generic Command."""
    if text in _PARSE_CACHE:
        return _PARSE_CACHE[text]
    import logging

    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to a Command" is our None, not news
    try:
        tree = sqlglot.parse_one(text, read="postgres", error_level=ErrorLevel.RAISE)
    except Exception:  # sqlglot raises several types; any failure means "no tree"
        tree = None
    if isinstance(tree, exp.Command):
        tree = None
    _PARSE_CACHE[text] = tree
    return tree


_LINE_STARTS: list[Any] = [None, [0]]  # (text, offsets where its lines start) of the last text asked about


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of an offset. The line starts are indexed once per text: counting newlines
    from the top for every statement made splitting a 20,000-statement file quadratic (18 of 26 s)."""
    import bisect

    if _LINE_STARTS[0] is not text:
        _LINE_STARTS[:] = [text, [0, *(m.end() for m in re.finditer("\n", text))]]
    starts = _LINE_STARTS[1]
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def comments_between(text: str) -> tuple[str, ...]:
    """Comment lines (`-- …`) in the gap between two statements, stripped of the `--`."""
    out = []
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("--"):
            out.append(s[2:].strip())
    return tuple(out)


_UNTERMINATED = {
    "'": "string ('…')",
    '"': 'quoted identifier ("…")',
    "$": "dollar quote ($$ … $$ or $tag$ … $tag$)",
    "/": "block comment (/* … */)",
    "E": "escape string (E'…')",
    "U": "Unicode string (U&'…')",
    "B": "bit string (B'…')",
    "X": "hex string (X'…')",
}


def _tokenize(text: str, path: str) -> list[Any]:
    """sqlglot's PostgreSQL tokens; an unterminated quote or comment is an error naming where it opens."""
    from sqlglot.dialects.postgres import Postgres
    from sqlglot.errors import TokenError

    tokenizer = Postgres.Tokenizer()
    try:
        return tokenizer.tokenize(text)
    except TokenError as exc:
        core = getattr(tokenizer, "_core", tokenizer)  # sqlglot internals: where the failing token began
        opened = getattr(core, "_start", None)
        if not isinstance(opened, int):
            found = re.search(r"from \d+:(\d+)", str(exc.__cause__ or ""))
            opened = int(found[1]) if found else 0
        if opened:  # a COPY … FROM stdin data block before it is the likelier culprit
            with contextlib.suppress(TokenError):
                _groups_checked(Postgres.Tokenizer().tokenize(text[:opened]), text, path)
        line, col = _line_col(text, opened)
        what = _UNTERMINATED.get(text[opened : opened + 1].upper(), "token")
        snippet = text[opened:].split("\n", 1)[0][:60]
        raise ProjectError(
            f"unterminated {what} starting here: {snippet}",
            where=f"{path}:{line}:{col}" if path else f"line {line}, column {col}",
            hint="close it; a semicolon inside quotes, dollar quotes or comments never ends a statement",
        ) from exc


def _group(tokens: list[Any]) -> list[list[Any]]:
    """Tokens grouped into statements at semicolons, except inside parentheses (as psql: a rule's
    `DO ALSO (INSERT …; INSERT …)`) and inside BEGIN ATOMIC … END (a SQL-standard function body,
    PostgreSQL 14+). Token types are compared as sqlglot's enum members: reading `.name` costs a
    Python call per token."""
    from sqlglot.tokens import TokenType

    semicolon, begin, case, end = TokenType.SEMICOLON, TokenType.BEGIN, TokenType.CASE, TokenType.END
    opening, closing = TokenType.L_PAREN, TokenType.R_PAREN
    groups: list[list[Any]] = []
    current: list[Any] = []
    depth = 0  # BEGIN ATOMIC … END nesting, where semicolons do not end the statement
    parens = 0  # open parentheses; a stray ")" does not go below zero (psql's rule too)
    last = len(tokens) - 1
    for i, tok in enumerate(tokens):
        kind = tok.token_type
        if kind is semicolon and depth == 0 and parens == 0:
            if current:
                groups.append(current)
            current = []
            continue
        current.append(tok)
        if kind is opening:
            parens += 1
        elif kind is closing:
            parens -= parens > 0
        elif (kind is begin and i < last and tokens[i + 1].text.upper() == "ATOMIC") or (depth and kind is case):
            depth += 1
        elif depth and kind is end:
            depth -= 1
    if current:
        groups.append(current)
    return groups


# sqlmig's own range placeholders in a batched migration (sqlmig.batch binds them), not psql variables.
BATCH_PLACEHOLDERS = ("batch_start", "batch_end")


def _psql_only_problems(group: list[Any], text: str, path: str) -> Iterator[ProjectError]:
    """psql meta-commands, psql variables and COPY … FROM stdin / TO stdout: only psql understands them."""
    from sqlglot.tokens import TokenType

    def at(tok: Any) -> str:
        line, _ = _line_col(text, tok.start)
        return f"{path}:{line}" if path else f"line {line}"

    # A meta-command starts with a `\` token and a variable with a `:` one: a statement whose text holds
    # neither character (most do) has no token to look at here.
    start, end = group[0].start, group[-1].end + 1
    scan = group if text.find(":", start, end) >= 0 or text.find("\\", start, end) >= 0 else []
    brackets, meta_end = 0, -1  # a meta-command's arguments run to the end of its line
    for i, tok in enumerate(scan):
        kind = tok.token_type
        brackets += (kind is TokenType.L_BRACKET) - (kind is TokenType.R_BRACKET)
        if tok.start < meta_end:
            continue
        if kind is TokenType.BACKSLASH:
            command = text[tok.start : tok.start + 30].split(None, 1)[0]
            meta_end = text.find("\n", tok.start)
            meta_end = len(text) if meta_end < 0 else meta_end
            if command in ("\\restrict", "\\unrestrict"):
                yield ProjectError(
                    f"psql meta-command {command} is not supported: this is pg_dump output (pg_dump 17.6, 16.10, "
                    "15.14, 14.19, 13.22 and later write \\restrict/\\unrestrict lines for psql)",
                    where=at(tok),
                    hint="delete the \\restrict line at the top and the \\unrestrict line at the end; "
                    "the SQL between them runs as it is",
                )
                continue
            yield ProjectError(
                f"psql meta-command {command} is not supported (sqlmig sends SQL to the server, not to psql)",
                where=at(tok),
                hint="replace \\set/\\i/\\c and friends with plain SQL; split work across migrations",
            )
            continue
        nxt = scan[i + 1] if i + 1 < len(scan) else None
        if (kind is TokenType.COLON and brackets == 0 and nxt is not None and nxt.start == tok.end + 1
                and nxt.token_type.name in ("STRING", "IDENTIFIER", "VAR", "L_BRACE")
                and not (nxt.token_type.name == "VAR" and nxt.text.lower() in BATCH_PLACEHOLDERS)):  # fmt: skip
            yield ProjectError(
                f"psql variable {text[tok.start : nxt.end + 1]} is not supported (only psql substitutes it)",
                where=at(tok),
                hint="write the value itself into the SQL",
            )
    if _copy_stdio(group):
        yield ProjectError(
            "COPY … FROM stdin / TO stdout is not supported (its data stream is psql's)",
            where=at(group[0]),
            hint="load the rows with INSERT … VALUES, or COPY from a server-side file",
        )


def _copy_stdio(group: list[Any]) -> bool:
    if group[0].text.upper() != "COPY":
        return False
    words = [t.text.upper() for t in group if t.token_type.name == "VAR"]
    return "STDIN" in words or "STDOUT" in words


_COPY_DATA_END = re.compile(r"^\\\.[ \t]*\r?$", re.M)


def psql_only_problems(text: str, path: str = "") -> list[ProjectError]:
    """Every psql-only construct in a file, where the splitter stops at the first (for `sqlmig check`).

    The data lines after a COPY … FROM stdin (up to a `\\.` line) are psql's, not SQL, and are
    skipped. [] when the text cannot be tokenized at all: the splitter's error says where.
    """
    from sqlglot.dialects.postgres import Postgres
    from sqlglot.errors import TokenError

    try:
        tokens = Postgres.Tokenizer().tokenize(text)
    except TokenError:
        return []
    kept: list[Any] = []
    head = skip_to = 0  # head: where the current statement starts in `kept`
    for tok in tokens:
        if tok.start < skip_to:
            continue
        kept.append(tok)
        if tok.token_type.name != "SEMICOLON":
            continue
        statement, head = kept[head:-1], len(kept)
        if statement and _copy_stdio(statement) and any(t.text.upper() == "STDIN" for t in statement):
            found = _COPY_DATA_END.search(text, tok.end + 1)
            skip_to = found.end() if found else len(text)
    return [problem for group in _group(kept) for problem in _psql_only_problems(group, text, path)]


def _refuse_psql_only(group: list[Any], text: str, path: str) -> None:
    """Raise the statement's first psql-only construct."""
    for problem in _psql_only_problems(group, text, path):
        raise problem


def _groups_checked(tokens: list[Any], text: str, path: str) -> list[list[Any]]:
    groups = _group(tokens)
    for group in groups:
        _refuse_psql_only(group, text, path)
    return groups


def split_statements(text: str, path: str = "") -> list[Statement]:
    """Split a file's text into statements. Raises ProjectError (with file:line) on text that cannot
    be tokenized or that only psql understands (meta-commands, variables, COPY … FROM stdin)."""
    from sqlglot.tokens import TokenType

    from sqlmig.ddl.cursor import expand

    string = TokenType.STRING
    groups = _groups_checked(_tokenize(text, path), text, path)
    statements: list[Statement] = []
    prev_end = 0
    for index, group in enumerate(groups):
        start = group[0].start
        end = group[-1].end + 1
        line, col = _line_col(text, start)
        leading = expand(group[:8], text[start:end])[:8]  # sqlglot hands REINDEX's, VACUUM's… rest over as one string
        keywords = tuple(t.text.upper() for t in leading if t.token_type is not string)
        statements.append(
            Statement(
                text=text[start:end],
                line=line,
                column=col,
                index=index,
                path=path,
                offset=start,
                keywords=keywords,
                comments_before=comments_between(text[prev_end:start]),
                token_source=tuple(group),
            )
        )
        prev_end = end
    return statements


def read_bytes(path: Path) -> bytes:
    """A file's bytes, as Path.read_bytes gives them, at half its cost (no buffered file object; a project of
    500 migrations reads 1,500 files before anything runs)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))  # O_BINARY: no newline translation on Windows
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def checksum(data: bytes) -> str:
    """The checksum recorded in history and in migrations.sum: sha256, hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SqlFile:
    """A SQL file as read from disk; statements are split on first use and cached."""

    path: Path
    raw: bytes
    display: str  # path as shown to the user (relative to the project)
    cache: Any = field(default=None, compare=False, repr=False)  # a sqlmig.statement_cache.StatementCache

    @classmethod
    def read(cls, path: Path, display: str, cache: Any = None) -> SqlFile:
        return cls(path=path, raw=read_bytes(path), display=display, cache=cache)

    @cached_property
    def checksum(self) -> str:
        return checksum(self.raw)

    @cached_property
    def text(self) -> str:
        try:
            text = self.raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = self.raw[: exc.start].count(b"\n") + 1
            raise ProjectError(
                "file is not valid UTF-8", where=f"{self.display}:{line}", hint="save it as UTF-8"
            ) from exc
        if "\x00" in text:  # libpq would send the text only up to it, and PostgreSQL stores no NUL in text
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise ProjectError("file holds a NUL character (byte 0), which PostgreSQL can neither receive nor "
                               "store in text", where=f"{self.display}:{line}", hint="remove it")  # fmt: skip
        return text.removeprefix("\ufeff")

    def check_text(self) -> str:
        """The text, or the ProjectError of a file that is not UTF-8 or holds a NUL: to refuse it early."""
        return self.text

    @cached_property
    def statements(self) -> list[Statement]:
        if self.cache is not None:
            return self.cache.statements(self)
        return split_statements(self.text, self.display)


# ---------------------------------------------------------------- comment conventions

DIRECTIVE_RESTORE = "sqlmig:restore-captured"


def has_restore_directive(text: str | None) -> bool:
    """True when a rollback file asks for captured rows back (a `-- sqlmig:restore-captured` line)."""
    if not text:
        return False
    return any(line.strip().lstrip("-").strip().lower() == DIRECTIVE_RESTORE
               for line in text.splitlines() if line.strip().startswith("--"))  # fmt: skip


_MARKER = re.compile(
    r"^--\s*(?:\+(?P<tool>goose|migrate)\s+(?P<word>up|down|statementbegin|statementend|no\s+transaction|envsub\s+\w+)"
    r"|(?P<dbmate>migrate):(?P<dbword>up|down))\b.*$",
    re.I,
)
_NO_TX = re.compile(r"no\s+transaction|notransaction|transaction:\s*false", re.I)


def foreign_markers(text: str) -> dict[str, list[tuple[str, int, bool]]]:
    """Section markers of other migration tools in a file's comments: tool -> [(marker, line, asks for no
    transaction)]. goose (`-- +goose Down`), sql-migrate (`-- +migrate Down`), dbmate (`-- migrate:down`)."""
    found: dict[str, list[tuple[str, int, bool]]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = _MARKER.match(line) if line.startswith("--") else None
        if m is None:
            continue
        if m["dbmate"]:
            tool, word = "dbmate", f"-- migrate:{m['dbword'].lower()}"
        else:
            tool = "goose" if m["tool"].lower() == "goose" else "sql-migrate"
            word = f"-- +{m['tool'].lower()} {' '.join(m['word'].split())}"
        found.setdefault(tool, []).append((word, n, bool(_NO_TX.search(m.group(0)))))
    return found
