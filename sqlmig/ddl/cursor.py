"""A cursor over one statement's sqlglot tokens: keywords, qualified names, balanced parentheses.

Quoted identifiers and strings are never keywords; every other word-shaped token is one,
compared upper-cased. Depth counts parentheses and brackets, so "depth 0" means the
statement's own clauses, not a sub-expression.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

# PostgreSQL's scanner (scan.l): ident_start [A-Za-z\200-\377_], ident_cont adds digits and `$`. Every
# byte of a non-ASCII character is >= 0x80, so any non-ASCII character may start or continue a name.
# Written as the ASCII characters that may not: the class [\u0080-\U0010ffff] took 3.5 ms to compile.
_NOT_START = r"\x00-\x40\x5b-\x5e\x60\x7b-\x7f"  # ASCII except A-Z, a-z and _
_NOT_CONTINUE = r"\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"  # ASCII except A-Z, a-z, 0-9, _ and $
_WORD = re.compile(f"^[^{_NOT_START}][^{_NOT_CONTINUE}]*$")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def fold(text: str) -> str:
    """An unquoted identifier as PostgreSQL stores it: ASCII letters lower-cased, every other character kept
    (in a UTF-8 database PostgreSQL folds only ASCII: unquoted `CAFÉ` is `cafÉ`)."""
    return text.translate(_ASCII_LOWER)


_OPEN = {"L_PAREN", "L_BRACKET"}
_CLOSE = {"R_PAREN", "R_BRACKET"}


def _type(tok: Any) -> str:
    return tok.token_type.name


# token type -> (is a string, is never a keyword: a string or a quoted identifier). Memoized by the enum
# member (an int to hash), because reading an enum's `.name` is a Python call per token.
_KINDS: dict[Any, tuple[bool, bool]] = {}


def _kind(token_type: Any) -> tuple[bool, bool]:
    got = _KINDS.get(token_type)
    if got is None:
        name = token_type.name
        string = name.endswith("STRING")
        got = _KINDS[token_type] = (string, string or name == "IDENTIFIER")
    return got


def is_string(tok: Any) -> bool:
    return _kind(tok.token_type)[0]


def word_of(tok: Any) -> str | None:
    """The upper-cased keyword a token could be, or None (strings, quoted identifiers, punctuation)."""
    if _kind(tok.token_type)[1]:
        return None
    return tok.text.translate(_ASCII_UPPER) if _WORD.match(tok.text) else None


def words_of(tokens: Any) -> list[str]:
    """word_of of every token, the Nones left out (inlined: it runs for every statement apply checks)."""
    out = []
    match, kinds = _WORD.match, _KINDS
    for tok in tokens:
        kind = kinds.get(tok.token_type) or _kind(tok.token_type)
        if not kind[1] and match(tok.text):
            out.append(tok.text.translate(_ASCII_UPPER))
    return out


def has_pair(words: list[str], first: str, second: str) -> bool:
    """Whether `first second` occur next to each other in a word list."""
    return any(x == first and y == second for x, y in itertools.pairwise(words))


def name_of(tok: Any) -> str | None:
    """One identifier, normalised as PostgreSQL does (unquoted: lower-case)."""
    if _type(tok) == "IDENTIFIER":
        return tok.text
    return fold(tok.text) if word_of(tok) else None


_COMMANDS = {"COMMAND", "LOCK", "EXECUTE", "FETCH", "SHOW", "RENAME"}


def expand(tokens: Any, text: str) -> list[Any]:
    """Tokens as a reader needs them: sqlglot hands the rest of a "command" statement (REINDEX, VACUUM,
    LOCK, REFRESH, CALL, DO, DISCARD…) over as one string, and glues some keyword pairs into one token
    ("PRIMARY KEY", "FOREIGN KEY", "DOUBLE PRECISION"). Re-tokenize the first and split the second.
    `text` is the statement's text (tokens[0] starts it)."""
    from sqlglot.tokens import Token

    tokens = list(tokens)
    if len(tokens) == 2 and _type(tokens[0]) in _COMMANDS and is_string(tokens[1]):
        from sqlglot.dialects.postgres import Postgres
        from sqlglot.errors import TokenError

        rest = tokens[1].text
        offset = text.find(rest, len(tokens[0].text))
        try:
            inner = Postgres.Tokenizer().tokenize(rest)
        except TokenError:
            inner = []
        if inner and offset >= 0:
            base = tokens[0].start + offset
            moved = [Token(t.token_type, t.text, t.line, t.col, t.start + base, t.end + base) for t in inner]
            tokens = [tokens[0], *moved]
    out = []
    for tok in tokens:
        if " " in tok.text and _type(tok) != "IDENTIFIER" and not is_string(tok):
            out.extend(Token(tok.token_type, w, tok.line, tok.col, tok.start, tok.end) for w in tok.text.split())
        else:
            out.append(tok)
    return out


def render(tokens: Any) -> str:
    """Tokens back to compact text (strings re-quoted), for messages and comparisons."""
    out = []
    for t in tokens:
        if is_string(t):
            out.append("'" + t.text.replace("'", "''") + "'")
        elif _type(t) == "IDENTIFIER":
            out.append('"' + t.text + '"')
        else:
            out.append(t.text)
    text = " ".join(out)
    for a, b in ((" ( ", "("), ("( ", "("), (" )", ")"), (" ,", ","), (" . ", "."), (" :: ", "::"), (" [", "[")):
        text = text.replace(a, b)
    return text


class Cursor:
    def __init__(self, tokens: Any, base: int | None = None) -> None:
        self.tokens = list(tokens)
        self.i = 0
        # file offset of the statement's first token, so pos() is an offset in the statement's text
        self.base = base if base is not None else (self.tokens[0].start if self.tokens else 0)

    # -- looking
    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return word_of(self.tokens[j]) if j < len(self.tokens) else None

    def pos(self) -> int:
        """Offset of the current token in the statement's text."""
        if self.done():
            return (self.tokens[-1].end + 1 - self.base) if self.tokens else 0
        return self.tokens[self.i].start - self.base

    def at(self, *words: str) -> bool:
        return all(self.peek(k) == w for k, w in enumerate(words))

    def at_any(self, *words: str) -> bool:
        return self.peek() in words

    def at_punct(self, name: str) -> bool:
        return not self.done() and _type(self.tokens[self.i]) == name

    # -- consuming
    def eat(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def eat_any(self, *words: str) -> bool:
        if self.at_any(*words):
            self.i += 1
            return True
        return False

    def eat_punct(self, name: str) -> bool:
        if self.at_punct(name):
            self.i += 1
            return True
        return False

    def word(self) -> str | None:
        w = self.peek()
        if w is not None:
            self.i += 1
        return w

    def string(self) -> str | None:
        if not self.done() and is_string(self.tokens[self.i]):
            self.i += 1
            return self.tokens[self.i - 1].text
        return None

    def name(self) -> str | None:
        """A possibly qualified name (`schema.table`), or None when the cursor is not at one."""
        if self.done():
            return None
        first = name_of(self.tokens[self.i])
        if first is None:
            return None
        parts = [first]
        self.i += 1
        while self.at_punct("DOT") and self.i + 1 < len(self.tokens):
            nxt = name_of(self.tokens[self.i + 1])
            if nxt is None:
                break
            parts.append(nxt)
            self.i += 2
        return ".".join(parts)

    def _depths(self, start: int) -> Iterator[tuple[int, int, str]]:
        """(index, depth before the token, token type) from `start`, depth counting () and []."""
        depth = 0
        for j in range(start, len(self.tokens)):
            t = _type(self.tokens[j])
            yield j, depth, t
            depth += (t in _OPEN) - (t in _CLOSE)

    def group_end(self, start: int) -> int:
        """Index just past the balanced group opening at `start`."""
        for j, depth, t in self._depths(start):
            if t in _CLOSE and depth == 1:
                return j + 1
        return len(self.tokens)

    def paren_tokens(self) -> list[Any]:
        """Consume a balanced (…) group at the cursor and return the tokens inside it."""
        if not self.at_punct("L_PAREN"):
            return []
        end = self.group_end(self.i)
        inner = self.tokens[self.i + 1 : end - 1]
        self.i = end
        return inner

    def paren_text(self) -> str:
        return render(self.paren_tokens())

    def paren_items(self) -> tuple[str, ...]:
        """Comma-separated items of a (…) group: a plain name normalised, anything else as text."""
        items = []
        for part in split_depth0(self.paren_tokens()):
            sub = Cursor(part)
            n = sub.name()
            items.append(n if n and sub.done() else render(part))
        return tuple(items)

    def strings_in_parens(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.paren_tokens() if is_string(t))

    def skip(self) -> None:
        """Step over one token, or over a whole (…) group."""
        self.i = self.group_end(self.i) if self.at_punct("L_PAREN") or self.at_punct("L_BRACKET") else self.i + 1

    # -- searching at depth 0 from the cursor
    def find_depth0(self, words: set[str], start: int) -> int | None:
        for j, depth, t in self._depths(start):
            if depth == 0 and t not in _OPEN and t not in _CLOSE and word_of(self.tokens[j]) in words:
                return j
        return None

    def skip_to(self, word: str) -> bool:
        j = self.find_depth0({word}, self.i)
        if j is None:
            return False
        self.i = j + 1
        return True

    def split_depth0_until(self, stop: set[str]) -> list[list[Any]]:
        end = self.find_depth0(stop, self.i)
        end = len(self.tokens) if end is None else end
        parts = split_depth0(self.tokens[self.i : end])
        self.i = end
        return parts

    def text_after_depth0(self, word: str, stop: set[str] | None = None) -> str | None:
        j = self.find_depth0({word}, self.i)
        if j is None:
            return None
        end = self.find_depth0(stop, j + 1) if stop else None
        return render(self.tokens[j + 1 : end])

    def rest_words(self) -> list[str]:
        return words_of(self.tokens[self.i :])

    def rest_has(self, word: str) -> bool:
        return word in self.rest_words()

    def rest_text(self) -> str:
        return render(self.tokens[self.i :])

    def relations_read(self) -> tuple[str, ...]:
        """Names after FROM / JOIN (and after commas in a FROM list), at any depth from the cursor."""
        found: list[str] = []
        in_from = [False]
        j = self.i
        while j < len(self.tokens):
            tok = self.tokens[j]
            t = _type(tok)
            w = word_of(tok)
            if t in _OPEN:
                in_from.append(False)
            elif t in _CLOSE and len(in_from) > 1:
                in_from.pop()
            elif w in ("FROM", "JOIN") or (t == "COMMA" and in_from[-1]):
                if w == "FROM":
                    in_from[-1] = True
                sub = Cursor(self.tokens[j + 1 :])
                while sub.eat_any("LATERAL", "ONLY"):
                    pass
                n = sub.name()
                if n and not sub.at_punct("L_PAREN"):
                    found.append(n)
            elif w in (
                "WHERE",
                "GROUP",
                "ORDER",
                "HAVING",
                "LIMIT",
                "UNION",
                "WINDOW",
                "ON",
                "USING",
                "SET",
                "RETURNING",
                "EXCEPT",
                "INTERSECT",
            ):
                in_from[-1] = False
            j += 1
        return tuple(dict.fromkeys(found))


def split_depth0(tokens: list[Any]) -> list[list[Any]]:
    """Split tokens on commas that are not inside parentheses or brackets."""
    parts: list[list[Any]] = [[]]
    depth = 0
    for tok in tokens:
        t = _type(tok)
        if t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            depth -= 1
        elif t == "COMMA" and depth == 0:
            parts.append([])
            continue
        parts[-1].append(tok)
    return [p for p in parts if p]
