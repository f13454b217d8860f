"""The three folders -> Migration objects: naming, pairing, ordering, checksums.

A migration is `migrations/<version>_<name>.sql`, `rollback/<version>_<name>.sql` and
`manifests/<version>_<name>.yaml`. The version is the leading digits, compared as a
number. Anything else in those folders is an error that names the file: a stray file
there is more often a mistake (a typo'd name, a file in the wrong folder) than intent.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from sqlmig import postgres
from sqlmig.config import Settings
from sqlmig.errors import ProjectError, SqlmigError
from sqlmig.manifest import Manifest
from sqlmig.manifest_cache import ManifestCache
from sqlmig.sql import SqlFile, checksum, foreign_markers, has_restore_directive, read_bytes
from sqlmig.statement_cache import StatementCache

NAME_RE = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[a-z0-9][a-z0-9_]*)$")
IGNORED = {".gitkeep", ".keep", "README.md", "README"}


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    up: SqlFile
    rollback: SqlFile | None
    manifest: Manifest
    manifest_raw: bytes
    manifest_display: str

    @property
    def stem(self) -> str:
        return f"{self.version}_{self.name}"

    @property
    def number(self) -> int:
        return int(self.version)

    @property
    def checksums(self) -> dict[str, str | None]:
        return {
            "up": self.up.checksum,
            "rollback": self.rollback.checksum if self.rollback else None,
            "manifest": checksum(self.manifest_raw),
        }

    @property
    def point_of_no_return(self) -> bool:
        return self.manifest.point_of_no_return is not None


@dataclass(frozen=True)
class Project:
    settings: Settings
    migrations: tuple[Migration, ...]
    # version -> files missing from an otherwise present migration (each also an error of read_project);
    # for an applied migration that is drift, not a malformed project
    incomplete: dict[str, tuple[str, ...]] = field(default_factory=dict)
    incomplete_errors: tuple[str, ...] = ()  # the read_project errors that say so
    statement_cache: StatementCache | None = field(default=None, compare=False, repr=False)

    def save_caches(self) -> None:
        """Keep what splitting the files found for the next command (call it after the checks)."""
        if self.statement_cache is not None:
            files = [f for m in self.migrations for f in (m.up, m.rollback) if f is not None]
            self.statement_cache.save({f.checksum for f in files})

    @property
    def root(self) -> Path:
        return self.settings.project_dir

    def by_version(self) -> dict[str, Migration]:
        return {m.version: m for m in self.migrations}

    def find(self, version: str) -> Migration | None:
        """Look a migration up by version; '7' finds '00007'."""
        for m in self.migrations:
            if m.version == version or (version.isdigit() and m.number == int(version)):
                return m
        return None


class _Found(NamedTuple):
    """A migration file as _scan found it."""

    path: Path
    shown: str  # relative to the project, as messages name it
    link: bool  # a symbolic link (it may dangle)


def _scan(folder: Path, suffix: str, display_root: Path, errors: list[str]) -> dict[str, _Found]:
    """stem -> file for the files of one folder; naming problems go to `errors`.

    os.scandir, in name order (as sorted Paths are): its entries know whether they are folders or
    links without a stat() per file, and a file's display name is its folder's plus its own."""
    found: dict[str, _Found] = {}
    if not folder.is_dir():
        return found
    shown_dir = _display(folder, display_root)
    with os.scandir(folder) as entries:
        listed = sorted(entries, key=lambda e: os.path.normcase(e.name))
    for entry in listed:
        name = entry.name
        shown = f"{shown_dir}{os.sep}{name}"
        if name in IGNORED or name.startswith("."):
            continue
        if entry.is_dir():
            errors.append(f"{shown}: unexpected folder in {folder.name}/ (migrations are flat files)")
            continue
        path = folder / name
        if path.suffix != suffix:
            errors.append(f"{shown}: stray file in {folder.name}/; expected <version>_<name>{suffix}")
            continue
        stem = name[: -len(suffix)]
        if not NAME_RE.match(stem):
            errors.append(
                f"{shown}: name does not follow <version>_<name>{suffix} "
                "(version: digits; name: lower-case letters, digits and _)"
            )
            continue
        link = entry.is_symlink()
        if link and not path.exists():  # paired as usual, so only this is said about it
            errors.append(f"{shown}: symbolic link to {path.readlink()}, which does not exist")
        found[stem] = _Found(path, shown, link)
    return found


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def read_project(settings: Settings) -> tuple[Project, list[str]]:
    """Read and pair every migration that can be read; return them with one line per problem found.

    `sqlmig check` reports the problems and still checks the readable migrations;
    everything else uses load_project, which refuses a project with any problem.
    """
    root = settings.project_dir
    errors: list[str] = []
    if not settings.migrations_dir.is_dir():
        raise ProjectError(
            f"no migrations/ folder in {root.resolve()}",
            hint="run sqlmig from the project root, pass --project DIR, or create one with `sqlmig new NAME`",
        )
    ups = _scan(settings.migrations_dir, ".sql", root, errors)
    downs = _scan(settings.rollback_dir, ".sql", root, errors)
    mans = _scan(settings.manifests_dir, ".yaml", root, errors)
    # .yml is a common slip; name it precisely instead of calling it stray.
    errors = [
        e.replace("stray file in manifests/;", "manifests use the .yaml extension, not .yml;")
        if e.split(":")[0].endswith(".yml") else e
        for e in errors
    ]  # fmt: skip

    incomplete: dict[str, list[str]] = {}
    explained: list[str] = []

    def missing(stem: str, path: str, message: str) -> None:
        files = incomplete.setdefault(NAME_RE.match(stem)["version"], [])
        if path not in files:
            files.append(path)
        explained.append(message)
        errors.append(message)

    for stem in sorted(set(downs) - set(ups)):
        missing(stem, f"migrations/{stem}.sql",
                f"{downs[stem].shown}: rollback without a forward file migrations/{stem}.sql")  # fmt: skip
    for stem in sorted(set(mans) - set(ups)):
        missing(stem, f"migrations/{stem}.sql",
                f"{mans[stem].shown}: manifest without a forward file migrations/{stem}.sql")  # fmt: skip

    seen: dict[int, str] = {}
    migrations: list[Migration] = []
    cache = ManifestCache(root)
    statement_cache = StatementCache(root)
    for stem in sorted(ups, key=lambda s: (int(NAME_RE.match(s)["version"]), s)):
        m = NAME_RE.match(stem)
        version, name = m["version"], m["name"]
        up_found = ups[stem]
        if int(version) in seen:
            errors.append(
                f"{up_found.shown}: duplicate version {version} "
                f"(also migrations/{seen[int(version)]}.sql); renumber one of them: `sqlmig new --renumber {stem}`"
            )
            continue
        seen[int(version)] = stem
        files = (up_found, downs.get(stem, up_found), mans.get(stem, up_found))
        if any(f.link and not f.path.exists() for f in files):
            continue  # a dangling symbolic link, reported by _scan
        if stem not in mans:
            missing(stem, f"manifests/{stem}.yaml",
                    f"{up_found.shown}: missing manifest manifests/{stem}.yaml")  # fmt: skip
            continue
        man_display = mans[stem].shown
        man_raw = read_bytes(mans[stem].path)
        try:
            manifest = cache.get(man_raw, man_display)
        except ProjectError as exc:
            errors.extend(exc.details or [exc.render()])
            continue
        up = SqlFile.read(up_found.path, up_found.shown, statement_cache)
        rollback = SqlFile.read(downs[stem].path, downs[stem].shown, statement_cache) if stem in downs else None
        if rollback is None and manifest.point_of_no_return is None:
            missing(stem, f"rollback/{stem}.sql", f"{up.display}: missing rollback/{stem}.sql; a migration without "
                    "a rollback must declare point_of_no_return: <reason> in its manifest")  # fmt: skip
        migrations.append(Migration(version, name, up, rollback, manifest, man_raw, man_display))

    cache.save()
    project = Project(settings, tuple(migrations), {v: tuple(p) for v, p in incomplete.items()}, tuple(explained),
                      statement_cache)  # fmt: skip
    return project, errors


def warm_cache(settings: Settings, kind: str) -> bool:
    """Fill the project's `kind` cache ("manifests"; "statements": every forward file split) as
    read_project and the checks would, for sqlmig.cli.prefetch; whether it was saved. Files that do
    not read, validate or split are left out, for the command to report."""
    root = settings.project_dir
    if kind == "manifests":
        manifests = ManifestCache(root)
        for found in _scan(settings.manifests_dir, ".yaml", root, []).values():
            with contextlib.suppress(SqlmigError, OSError):
                manifests.get(read_bytes(found.path), found.shown)
        return manifests.save()
    statements = StatementCache(root)
    for found in _scan(settings.migrations_dir, ".sql", root, []).values():
        with contextlib.suppress(SqlmigError, OSError):
            SqlFile.read(found.path, found.shown, statements).statements  # noqa: B018 - split and cached
    return statements.save(set(statements.cache.entries))  # the command that reads the whole project prunes it


def load_project(settings: Settings) -> Project:
    """Read and pair every migration. Raises ProjectError listing every problem found."""
    project, error = load_project_deferred(settings)
    if error:
        raise error
    return project


def load_project_deferred(settings: Settings) -> tuple[Project, ProjectError | None]:
    """For commands that read history: when every problem is a file missing from a migration
    (project.incomplete), return what could be read together with the error, because for an
    applied migration that is drift (exit 3), not a malformed project. Any other problem raises."""
    project, errors = read_project(settings)
    if not errors:
        return project, None
    error = ProjectError(
        f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the migration files of the project at "
        f"{settings.project_dir.resolve()}",
        details=errors,
        hint="fix the files named above; nothing was run",
    )
    if set(errors) <= set(project.incomplete_errors):
        return project, error
    raise error


_CHECKED: dict[tuple, list] = {}


def check_statements(migration: Migration, *, rollback: bool = False) -> list:
    """Split a migration's file and check what can be known before running it (cached per file content).

    Raises the first of `refusals` as a ProjectError; returns the statements otherwise.
    """
    sql_file = migration.rollback if rollback else migration.up
    if sql_file is None:
        return []
    man = migration.manifest
    key = (sql_file.display, sql_file.checksum, man.transactional, man.allow_empty)
    if key not in _CHECKED:
        problems = refusals(migration, rollback=rollback)
        if problems:
            raise problems[0]
        _CHECKED[key] = sql_file.statements
    return _CHECKED[key]


def refusals(migration: Migration, *, rollback: bool = False) -> list[ProjectError]:
    """Everything apply (or rollback) refuses in one of a migration's files before running anything.

    The one list of these rules: apply raises the first, `sqlmig check` reports them all
    (pre_run_findings). They are: a file that cannot be split (psql-only syntax, bad UTF-8),
    an empty file (unless allow_empty), BEGIN/COMMIT written in the file, a SET or RESET of
    standard_conforming_strings other than to on (the split assumes on), a statement
    PostgreSQL refuses inside a transaction block in a `transaction: per-migration` migration,
    and another tool's marker of the other direction (`-- +goose Down` in a forward file). A
    rollback holding only `-- sqlmig:restore-captured` is not empty: sqlmig restores the rows.
    """
    sql_file = migration.rollback if rollback else migration.up
    if sql_file is None:
        return []
    try:
        statements = sql_file.statements
    except ProjectError as exc:
        return [exc]
    out = _foreign_sections(migration, sql_file, rollback)
    restores = rollback and has_restore_directive(sql_file.text)  # sqlmig.batch restores the captured rows
    if not statements and not migration.manifest.allow_empty and not restores:
        out.append(ProjectError(
            "file holds no SQL statements (only comments or whitespace)",
            where=sql_file.display,
            hint="write the change, or set allow_empty: true in the manifest for a placeholder",
        ))  # fmt: skip
    for stmt in statements:
        if postgres.is_transaction_control(stmt):
            out.append(ProjectError(
                f"transaction control in a migration file: {stmt.first_line}",
                where=stmt.where,
                hint="remove it: sqlmig wraps each migration in a transaction itself "
                "(set transaction: none in the manifest to run statements one by one)",
            ))  # fmt: skip
        elif postgres.changes_string_syntax(stmt):
            out.append(ProjectError(
                f"changing standard_conforming_strings in a migration is not supported: {stmt.first_line}",
                where=stmt.where,
                hint="sqlmig reads and runs every file with standard_conforming_strings = on (setting it to on "
                "is allowed); write backslash escapes as E'...' strings instead",
            ))  # fmt: skip
        elif (reason := postgres.not_in_transaction_reason(stmt)) and migration.manifest.transactional:
            out.append(ProjectError(
                reason,
                where=stmt.where,
                hint=f"set transaction: none in {migration.manifest_display}, "
                "and keep the migration to this one statement so a failure leaves nothing half-done",
            ))  # fmt: skip
    return out


def _foreign_sections(migration: Migration, sql_file: SqlFile, rollback: bool) -> list[ProjectError]:
    """A goose, sql-migrate or dbmate marker of the other direction (`-- +goose Down` in a forward file):
    sqlmig runs the whole file, so that section would run as part of this change."""
    wrong = "up" if rollback else "down"
    out = []
    for tool, markers in foreign_markers(sql_file.text).items():
        for marker, line, _ in markers:
            if marker.lower().endswith(wrong):
                home = f"migrations/{migration.stem}.sql" if rollback else f"rollback/{migration.stem}.sql"
                out.append(ProjectError(
                    f"{tool} section marker `{marker}`: sqlmig runs the whole file, so the {wrong} section "
                    f"would run as part of this {'rollback' if rollback else 'change'}",
                    where=f"{sql_file.display}:{line}",
                    hint=f"move the {wrong} section to {home} and delete the markers (lint rule SM508)",
                ))  # fmt: skip
    return out


def pre_run_findings(migration: Migration, besides: list | tuple = ()) -> list:
    """`refusals` of a migration's forward and rollback files as `sqlmig check` findings (check/sql-file),
    leaving out those at the file and line of an error finding in `besides` (already said there)."""
    from sqlmig.findings import Finding

    said = {(f.path, f.line) for f in besides if f.severity == "error"}
    out = []
    for rollback in (False, True):
        for exc in refusals(migration, rollback=rollback):
            path, line, col = [*(exc.where or "").split(":"), "1", "1"][:3]
            if (path, int(line)) not in said:
                out.append(Finding("check/sql-file", "error", path, int(line), exc.message, exc.hint, int(col)))
    return out
