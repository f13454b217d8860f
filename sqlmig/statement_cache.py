"""Split statements cached by file content (sqlmig.content_cache): apply need not tokenize again the
files it split before, nor import sqlglot to do it.

An entry holds, per statement, where its text lies in the file and what the checks before a run
read from it: its leading keywords and its words (sqlmig.ddl.words). The text itself is always
the file's, sliced at those offsets, and lines, columns and comments are derived from the file;
an entry that does not fit the file (text other than whitespace, comments and semicolons between
statements, a statement that does not begin with its first keyword) is split again. The cache is
trusted as the project is: keep $XDG_CACHE_HOME as private as the checkout. A cached
statement's sqlglot tokens are produced only when something reads them (lint rules, the reader
of a statement that may refuse a transaction), by splitting the file again. A file that does
not split is never cached: its error always comes from a real split. The stamp covers the code
that splits (sqlmig.sql, sqlmig.ddl) and sqlglot's version.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sqlmig import content_cache
from sqlmig.sql import SqlFile, Statement, comments_between, split_statements

KIND = "statements"


def _stamp() -> str:
    from sqlmig import ddl, sql, statement_cache
    from sqlmig.ddl import cursor

    spec = importlib.util.find_spec("sqlglot")  # its version, without importing it (45 ms)
    origin = Path(spec.origin) if spec and spec.origin else None
    version = origin.with_name("_version.py") if origin else None
    sqlglot = (version if version and version.is_file() else origin.with_name("tokens.py"),) if origin else ()
    return content_cache.stamp(sql, ddl, cursor, statement_cache, extra=sqlglot)


def _tokens_later(text: str, display: str) -> Any:
    """A token source for a file's cached statements: the first one asked splits the file again."""
    split: list[list[Statement]] = []

    def tokens(index: int) -> tuple[Any, ...]:
        if not split:
            split.append(split_statements(text, display))
        return split[0][index].tokens

    return tokens


class StatementCache:
    """One per project read; loaded on first use. `save` after the checks (sqlmig.migrator does)."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self._cache: content_cache.ContentCache | None = None

    @property
    def cache(self) -> content_cache.ContentCache:
        if self._cache is None:
            self._cache = content_cache.ContentCache(KIND, self.project_dir, _stamp())
        return self._cache

    def statements(self, sql_file: SqlFile) -> list[Statement]:
        """The file's statements, from the cache or split (ProjectError when the file does not split)."""
        key = sql_file.checksum
        entry = self.cache.get(key)
        if entry is not None:
            got = _from_entry(entry, sql_file)
            if got is not None:
                return got
        statements = split_statements(sql_file.text, sql_file.display)
        from sqlmig import ddl

        self.cache.put(key, [[s.offset, len(s.text), s.keywords, ddl.words(s)] for s in statements])
        return statements

    def save(self, keep: set[str]) -> bool:
        """Write the cache, keeping the entries of `keep` (the checksums of the project's files) too."""
        return self._cache.save(keep) if self._cache is not None else True


def _from_entry(entry: Any, sql_file: SqlFile) -> list[Statement] | None:
    """Statements of a cached entry, or None when it does not fit the file (damaged: split it instead).

    Lines, columns and the comments before each statement are derived from the file again; the
    text between statements must be only what separates them (whitespace, comments, semicolons),
    and each statement must begin with its first recorded keyword."""
    text, display = sql_file.text, sql_file.display
    tokens = _tokens_later(text, display)
    out: list[Statement] = []
    end, line = 0, 1
    try:
        for index, (offset, length, keywords, words) in enumerate(entry):
            if not (isinstance(offset, int) and isinstance(length, int) and end <= offset and length > 0
                    and offset + length <= len(text) and _separates(text, end, offset)):  # fmt: skip
                return None
            first = keywords[0] if keywords else ""
            if not isinstance(first, str) or text[offset : offset + len(first)].upper() != first:
                return None
            line += text.count("\n", end, offset)
            column = offset - text.rfind("\n", 0, offset)
            gap, end = text[end:offset], offset + length
            out.append(Statement(text=text[offset:end], line=line, column=column, index=index, path=display,
                                 offset=offset, keywords=tuple(keywords), comments_before=comments_between(gap),
                                 token_source=tokens, words=tuple(words)))  # fmt: skip
            line += text.count("\n", offset, end)
    except (TypeError, ValueError):
        return None
    return out if _separates(text, end, len(text)) else None


def _separates(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] holds only whitespace, semicolons and comments (-- …, nested /* … */)."""
    i = start
    while i < end:
        c = text[i]
        if c.isspace() or c == ";":
            i += 1
        elif text.startswith("--", i):
            newline = text.find("\n", i, end)
            i = end if newline < 0 else newline + 1
        elif text.startswith("/*", i):
            depth = 0
            while i < end:
                opens, closes = text.find("/*", i, end), text.find("*/", i, end)
                if closes < 0:
                    return False
                if 0 <= opens < closes:
                    depth, i = depth + 1, opens + 2
                else:
                    depth, i = depth - 1, closes + 2
                    if depth == 0:
                        break
            if depth:
                return False
        else:
            return False
    return True
