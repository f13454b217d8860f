"""Split statements cached by file content (sqlmig.content_cache): apply need not tokenize again the
files it split before, nor import sqlglot to do it.

An entry holds, per statement, where its text lies in the file and what the checks before a run
read from it: its line and column, leading keywords, the comments before it, and its words
(sqlmig.ddl.words). The text itself is always the file's, sliced at those offsets. A cached
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
from sqlmig.sql import SqlFile, Statement, split_statements

KIND = "statements"


def _stamp() -> str:
    from sqlmig import ddl, sql
    from sqlmig.ddl import cursor

    spec = importlib.util.find_spec("sqlglot")  # its version, without importing it (45 ms)
    origin = Path(spec.origin) if spec and spec.origin else None
    version = origin.with_name("_version.py") if origin else None
    sqlglot = (version if version and version.is_file() else origin.with_name("tokens.py"),) if origin else ()
    return content_cache.stamp(sql, ddl, cursor, extra=sqlglot)


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

        self.cache.put(key, [[s.offset, len(s.text), s.line, s.column, s.keywords, s.comments_before, ddl.words(s)]
                             for s in statements])  # fmt: skip
        return statements

    def save(self) -> None:
        if self._cache is not None:
            self._cache.save()


def _from_entry(entry: Any, sql_file: SqlFile) -> list[Statement] | None:
    """Statements of a cached entry, or None when it does not fit the file (damaged: split it instead)."""
    text, display = sql_file.text, sql_file.display
    tokens = _tokens_later(text, display)
    out: list[Statement] = []
    end = 0
    try:
        for index, (offset, length, line, column, keywords, comments, words) in enumerate(entry):
            if not (isinstance(offset, int) and isinstance(length, int) and end <= offset and length > 0
                    and offset + length <= len(text)):  # fmt: skip
                return None
            end = offset + length
            out.append(Statement(text=text[offset:end], line=line, column=column, index=index, path=display,
                                 offset=offset, keywords=tuple(keywords), comments_before=tuple(comments),
                                 token_source=tokens, words=tuple(words)))  # fmt: skip
    except (TypeError, ValueError):
        return None
    return out
