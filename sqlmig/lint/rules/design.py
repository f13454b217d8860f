"""Schema design: column types, names and indexes that cost later. Mostly info, a few opt-in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from sqlmig import ddl, postgres
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import col, hit
from sqlmig.sql import Statement


def new_columns(a: ddl.Anatomy) -> Iterator[tuple[str, ddl.ColumnDef, object]]:
    """(table, column, position) for every column a statement declares (CREATE TABLE, ADD COLUMN)."""
    if a.kind == "CREATE TABLE" and "TEMPORARY" not in a.flags:
        for c in a.columns:
            if c.type:
                yield a.object or "?", c, c
    elif a.kind == "ALTER TABLE":
        for act in a.actions:
            if act.verb == "ADD COLUMN" and act.coldef is not None:
                yield a.table or "?", act.coldef, act


def _types(a: ddl.Anatomy) -> Iterator[tuple[str, str, str, object]]:
    """(table, column, type, position) for declared columns and ALTER COLUMN … TYPE targets."""
    for table, c, at in new_columns(a):
        yield table, c.name, c.type, at
    if a.kind == "ALTER TABLE":
        for act in a.actions:
            if act.verb == "ALTER COLUMN TYPE" and act.type:
                yield a.table or "?", act.column or "?", act.type, act


_SMALL_INTS = {"integer", "smallint", "serial", "smallserial"}


@rule(
    "SM400",
    "prefer-bigint",
    "info",
    "A key column of a 32-bit or smaller integer type",
    family="design",
    kinds=("CREATE TABLE", "ALTER TABLE"),
)
def prefer_bigint(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `integer`/`smallint`/`serial` key columns: primary keys, foreign keys, `id` and `*_id`.

    ## Why is this bad
    A busy table runs out of 2^31 ids, and widening the column later rewrites the table (SM005).

    ## Example
    ```sql
    CREATE TABLE events (id serial PRIMARY KEY, user_id integer REFERENCES users);
    ```

    ## Use instead
    ```sql
    CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint REFERENCES users);
    ```

    ## Known problems
    Small lookup tables never need it; suppress or disable.
    """
    for table, c, at in new_columns(a):
        base = postgres.parse_type(c.type).base
        keyish = c.primary_key or c.references or c.name == "id" or c.name.endswith("_id")
        if base in _SMALL_INTS and keyish:
            yield hit(
                f"{col(table, c.name)} is {c.type}: a key column can outgrow 2^31 values, and widening it "
                "later rewrites the table",
                "use bigint",
                at,
            )


@rule(
    "SM401",
    "prefer-identity",
    "info",
    "serial instead of an identity column",
    family="design",
    kinds=("CREATE TABLE", "ALTER TABLE"),
)
def prefer_identity(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `serial`, `bigserial` and `smallserial` columns.

    ## Why is this bad
    serial is a sequence plus a default, with quirks: permissions on the sequence, ownership, and writes
    that can override it. Identity columns are the SQL-standard replacement.

    ## Example
    ```sql
    CREATE TABLE events (id bigserial PRIMARY KEY);
    ```

    ## Use instead
    ```sql
    CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
    ```

    ## Known problems
    None known.
    """
    for table, c, at in new_columns(a):
        if postgres.parse_type(c.type).base in postgres.SERIAL_TYPES:
            yield hit(f"{col(table, c.name)} is {c.type}", "use bigint GENERATED ALWAYS AS IDENTITY", at)


@rule(
    "SM402",
    "prefer-text-field",
    "info",
    "varchar(n) instead of text",
    family="design",
    default=False,
    kinds=("CREATE TABLE", "ALTER TABLE"),
)
def prefer_text_field(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `varchar(n)` columns (opt-in).

    ## Why is this bad
    The limit is usually arbitrary. Raising it later is cheap (no rewrite, a brief lock), so this is a
    style preference rather than a hazard.

    ## Example
    ```sql
    CREATE TABLE users (name varchar(100));
    ```

    ## Use instead
    `text`, with a `CHECK (length(name) <= 100)` when the limit matters.

    ## Known problems
    None known.
    """
    for table, column, typ, at in _types(a):
        t = postgres.parse_type(typ)
        if t.base == "varchar" and t.args:
            yield hit(f"{col(table, column)} is {typ}", "use text (with a CHECK on length if the limit matters)", at)


@rule(
    "SM403",
    "prefer-timestamptz",
    "info",
    "timestamp without time zone",
    family="design",
    kinds=("CREATE TABLE", "ALTER TABLE"),
)
def prefer_timestamptz(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `timestamp` (without time zone) columns.

    ## Why is this bad
    The value does not say which zone it is in; comparisons with `now()` and clients in other zones
    silently shift it.

    ## Example
    ```sql
    CREATE TABLE events (created_at timestamp NOT NULL DEFAULT now());
    ```

    ## Use instead
    `timestamptz`.

    ## Known problems
    None known.
    """
    for table, column, typ, at in _types(a):
        if postgres.parse_type(typ).base == "timestamp":
            yield hit(f"{col(table, column)} is {typ} (without time zone)", "use timestamptz", at)


@rule(
    "SM404",
    "ban-char",
    "info",
    "char(n) pads values with spaces",
    family="design",
    kinds=("CREATE TABLE", "ALTER TABLE"),
)
def ban_char(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `char(n)` / `character(n)` columns.

    ## Why is this bad
    Values are padded with spaces to n characters, which surprises comparisons and clients, and it is
    no faster than text.

    ## Example
    ```sql
    CREATE TABLE countries (code char(2));
    ```

    ## Use instead
    `text` with a CHECK on the length.

    ## Known problems
    None known.
    """
    for table, column, typ, at in _types(a):
        if postgres.parse_type(typ).base == "char":
            yield hit(f"{col(table, column)} is {typ}, which pads values with spaces", "use text with a CHECK", at)


@rule(
    "SM405", "prefer-jsonb", "warning", "json instead of jsonb", family="design", kinds=("CREATE TABLE", "ALTER TABLE")
)
def prefer_jsonb(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `json` columns.

    ## Why is this bad
    `json` has no equality operator, so DISTINCT, UNION and GROUP BY on it fail, and it cannot be indexed
    with GIN; it re-parses the text on every access.

    ## Example
    ```sql
    ALTER TABLE events ADD COLUMN payload json;
    ```

    ## Use instead
    `jsonb`.

    ## Known problems
    Keep `json` only when the exact text (key order, duplicates) must be preserved.
    """
    for table, column, typ, at in _types(a):
        if postgres.parse_type(typ).base == "json":
            yield hit(f"{col(table, column)} is json: no equality operator, no GIN index", "use jsonb", at)


@rule(
    "SM406",
    "domain-with-constraint",
    "warning",
    "A domain with a CHECK constraint",
    family="design",
    kinds=("CREATE DOMAIN", "ALTER DOMAIN"),
)
def domain_with_constraint(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER DOMAIN … ADD CONSTRAINT`; reports (info) `CREATE DOMAIN … CHECK`.

    ## Why is this bad
    Adding a constraint to a domain checks every column of that domain in every table, with no NOT VALID
    escape for the columns; and a column of a constrained domain added to an existing table rewrites it
    (SM004).

    ## Example
    ```sql
    ALTER DOMAIN positive_int ADD CONSTRAINT positive CHECK (VALUE > 0);
    ```

    ## Use instead
    CHECK constraints on the columns, added NOT VALID and validated later.

    ## Known problems
    None known.
    """
    if a.kind == "CREATE DOMAIN" and "CHECK" in a.flags:
        yield hit(
            f"domain {a.object} has a CHECK: adding a column of it to an existing table rewrites the table",
            "prefer column CHECK constraints",
            severity="info",
        )
    elif a.kind == "ALTER DOMAIN" and any(x.verb.startswith("ADD") for x in a.actions):
        yield hit(
            f"ALTER DOMAIN {a.object} ADD CONSTRAINT checks every column of the domain in every table",
            "add CHECK … NOT VALID constraints on the columns instead",
        )


def _declared_names(a: ddl.Anatomy) -> Iterator[tuple[str, object]]:
    if a.kind.startswith("CREATE") and a.object:
        yield a.object.rsplit(".", 1)[-1], None
    for _, c, at in new_columns(a):
        yield c.name, at
    for k in a.constraints:
        if k.name:
            yield k.name, None
    for act in a.actions:
        for n in (act.new_name, act.name if act.verb == "ADD CONSTRAINT" else None):
            if n:
                yield n.rsplit(".", 1)[-1], act


@rule("SM407", "identifier-too-long", "error", "An identifier longer than 63 bytes", family="design")
def identifier_too_long(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags a name longer than 63 bytes given to a new table, column, index, constraint or other object.

    ## Why is this bad
    PostgreSQL silently truncates it to 63 bytes: two long names can collide, and later statements that
    use the full name do not find the object.

    ## Example
    ```sql
    CREATE INDEX orders_customer_id_created_at_status_shipping_country_region_idx ON orders (…);
    ```

    ## Use instead
    A shorter name.

    ## Known problems
    None known.
    """
    for name, at in _declared_names(a):
        if len(name.encode()) > 63:
            yield hit(
                f"{name[:40]}… is {len(name.encode())} bytes: PostgreSQL truncates names to 63",
                "use a name of at most 63 bytes",
                at,
            )


@rule(
    "SM408",
    "duplicate-column",
    "error",
    "The same column declared or assigned twice",
    family="design",
    kinds=("CREATE TABLE", "ALTER TABLE", "UPDATE", "INSERT"),
)
def duplicate_column(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags a column declared twice in one CREATE TABLE or ALTER TABLE, or assigned twice in one UPDATE
    or INSERT column list.

    ## Why is this bad
    PostgreSQL rejects it ("specified more than once"), usually a copy-paste slip that hides the
    intended second column.

    ## Example
    ```sql
    UPDATE users SET plan = 'free', plan = 'pro' WHERE id = 1;
    ```

    ## Use instead
    One assignment per column.

    ## Known problems
    None known.
    """
    names = [c.name for _, c, _ in new_columns(a)]
    if a.kind in ("UPDATE", "INSERT"):
        names = list(a.targets)
    for name, n in Counter(names).items():
        if n > 1:
            yield hit(f"column {name} appears {n} times in this {a.kind}", "keep one")


@rule("SM409", "require-schema-qualified", "info", "An unqualified table name", family="design", default=False)
def require_schema_qualified(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports a statement whose table name has no schema (opt-in).

    ## Why is this bad
    The table is resolved through `search_path`, which may differ between environments.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN plan text;
    ```

    ## Use instead
    `ALTER TABLE public.users …`

    ## Known problems
    None known.
    """
    if a.table and "." not in a.table and "TEMPORARY" not in a.flags:
        yield hit(f"{a.table} is not schema-qualified", f"write <schema>.{a.table}")


def _fks(a: ddl.Anatomy) -> Iterator[tuple[str, tuple[str, ...], object]]:
    table = a.object if a.kind == "CREATE TABLE" else a.table
    for _, c, at in new_columns(a):
        if c.references:
            yield table or "?", (c.name,), at
    for k in a.constraints:
        if k.kind == "FOREIGN KEY":
            yield table or "?", k.columns, None
    for act in a.actions:
        if act.constraint is not None and act.constraint.kind == "FOREIGN KEY":
            yield table or "?", act.constraint.columns, act


def _own_index_columns(a: ddl.Anatomy) -> list[tuple[str, ...]]:
    cols = [(c.name,) for _, c, _ in new_columns(a) if c.primary_key or c.unique]
    cols += [k.columns for k in a.constraints if k.kind in ("PRIMARY KEY", "UNIQUE")]
    return cols


@rule(
    "SM412",
    "fk-without-index",
    "info",
    "A foreign key whose columns lead no index",
    family="design",
    kinds=("CREATE TABLE", "ALTER TABLE"),
)
def fk_without_index(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports a new foreign key whose referencing columns do not lead any index: none from earlier
    migrations, none in the same statement (primary key, unique), none created later in the file.

    ## Why is this bad
    Every DELETE or key UPDATE on the referenced table scans the referencing table to check for rows
    that point at it, and joins along the key cannot use an index.

    ## Example
    ```sql
    CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users);
    ```

    ## Use instead
    ```sql
    CREATE INDEX orders_user_id_idx ON orders (user_id);
    ```

    ## Known problems
    Indexes created outside migrations are unknown to sqlmig.
    """
    for table, columns, at in _fks(a):
        if not columns or ctx.model.has_index_on(table, columns):
            continue
        if any(c[: len(columns)] and set(c[: len(columns)]) == set(columns) for c in _own_index_columns(a)):
            continue
        if ctx.later(("INDEX LEADS", frozenset(columns)), table) is None:
            yield hit(
                f"foreign key {col(table, ', '.join(columns))} has no index: deletes on the referenced table "
                f"scan {table}",
                f"CREATE INDEX ON {table} ({', '.join(columns)})",
                at,
            )
