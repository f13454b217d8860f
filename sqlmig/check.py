"""The pull-request check: every file valid, every manifest true to its SQL, nothing shipped edited.

`run_check` reads the whole project (reporting what does not load instead of stopping),
holds each manifest to its SQL (sqlmig.agreements), verifies migrations.sum, and with a
base ref compares the working tree with the base's files through git, without a
checkout: migrations on the base must be byte-identical here, and new ones must take a
version the base has not used and come after the base's newest. On a branch that has not
merged its base yet, what the base gained or changed after the fork point (git
merge-base) is not held against it: a base migration it never saw is "behind base", not
removed, and a version both sides added since the fork is a collision, not a rename.

Exit policy (CheckResult.exit_code): integrity problems (migrations.sum, a base
migration edited, removed or renamed, a version collision or out of order) exit 3; any
other error exits 2; warnings and notes alone exit 0, unless `strict` makes warnings fail (2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmig import integrity
from sqlmig.agreements import check_migration
from sqlmig.config import Settings
from sqlmig.errors import EXIT_DRIFT, EXIT_INVALID, EXIT_OK
from sqlmig.findings import Finding, sort_findings
from sqlmig.gitbase import BaseTree, read_base
from sqlmig.project import NAME_RE, pre_run_findings, read_project

INTEGRITY_RULES = frozenset(
    {"check/sum", "check/edited", "check/removed", "check/renamed", "check/version-collision", "check/out-of-order"}
)
_WHERE = re.compile(r"^(?P<path>[^:\s]+?)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?: (?P<msg>.*)$", re.S)


@dataclass(frozen=True)
class CheckResult:
    findings: list[Finding]
    migrations: int  # how many migrations were found (forward files in migrations/)
    base: str | None = None  # "REF (commit)" when compared with a base
    new: tuple[str, ...] = field(default=())  # stems added relative to the base
    unreadable: int = 0  # of `migrations`, how many could not be read (and so were not held to their SQL)

    def exit_code(self, strict: bool = False) -> int:
        errors = [f for f in self.findings if f.severity == "error" or (strict and f.severity == "warning")]
        if any(f.rule in INTEGRITY_RULES for f in errors):
            return EXIT_DRIFT
        return EXIT_INVALID if errors else EXIT_OK


def _load_finding(line: str) -> Finding:
    """A project-loading problem ('path:line:col: message' or 'path: message') as a Finding."""
    m = _WHERE.match(line)
    if not m:
        return Finding("check/files", "error", ".", 1, line)
    path, msg = m["path"], m["msg"]
    if path.startswith("manifests/") and m["line"]:
        rule = "check/manifest"
    elif "missing rollback" in msg:
        rule = "check/rollback-missing"
    else:
        rule = "check/files"
    return Finding(rule, "error", path, int(m["line"] or 1), msg, None, int(m["col"] or 1))


def _sum_findings(files: dict[str, bytes], settings: Settings, base: BaseTree | None,
                  shipped: set[str]) -> list[Finding]:  # fmt: skip
    """migrations.sum against the files. `shipped`: files this branch edited that are on the base, where
    re-hashing would bless an edit that databases which ran the migration never get."""
    sum_path = settings.project_dir / integrity.SUM_FILE
    if not sum_path.is_file():
        if base is not None and integrity.SUM_FILE in base.blobs:
            return [Finding("check/sum", "error", integrity.SUM_FILE, 1, f"{integrity.SUM_FILE} was deleted, but "
                            f"{base.ref} has one", "restore it, or run `sqlmig hash`")]  # fmt: skip
        return [Finding("check/sum-missing", "warning", integrity.SUM_FILE, 1, f"no {integrity.SUM_FILE}: two "
                        "branches that each add a migration will merge without a conflict",
                        "run `sqlmig hash` and commit the file it writes")]  # fmt: skip
    out = []
    for mm in integrity.compare(sum_path.read_text("utf-8", errors="replace"), files):
        line = mm.line if mm.path == integrity.SUM_FILE else 1
        message = mm.render().split(": ", 1)[1]
        if mm.path in shipped and base is not None:
            message += f": this migration is on {base.ref}, so it was edited after it shipped"
            hint = (f"do not re-hash it: restore it (git checkout {base.ref} -- {mm.path}) and make the change in "
                    "a new migration (`sqlmig new`)")  # fmt: skip
        elif mm.what in ("conflict", "total"):
            hint = "after a merge, run `sqlmig hash`, then this check again"
        else:
            hint = ("if the file is right (new, or edited before it ran anywhere) run `sqlmig hash`; "
                    "otherwise restore it from git")  # fmt: skip
        out.append(Finding("check/sum", "error", mm.path, line, message, hint))
    return out


def _first_difference(old: bytes, new: bytes) -> int:
    for n, (a, b) in enumerate(zip(old.splitlines(), new.splitlines(), strict=False), 1):
        if a != b:
            return n
    return min(len(old.splitlines()), len(new.splitlines())) + 1


def _stem_of(path: str) -> str | None:
    """'rollback/00001_x.sql' -> '00001_x'; None for migrations.sum and other paths outside the folders."""
    folder, slash, name = path.partition("/")
    return name.rsplit(".", 1)[0] if slash and folder in integrity.FOLDERS else None


def _stems(paths: list[str]) -> dict[str, str]:
    """version stem -> path of the forward file, for migrations/<version>_<name>.sql paths."""
    out = {}
    for p in paths:
        folder, _, name = p.partition("/")
        if folder == "migrations" and name.endswith(".sql") and NAME_RE.match(name[:-4]):
            out[name[:-4]] = p
    return out


def _version(stem: str) -> int:
    return int(NAME_RE.match(stem)["version"])


def _edited(base: BaseTree, files: dict[str, bytes], base_stems: dict, head_stems: dict) -> list[Finding]:
    """Files of base migrations that this branch changed or deleted."""
    out, ref = [], base.ref
    common = sorted(p for p in files if p in base.blobs and _stem_of(p) in base_stems)
    ids = base.worktree_ids(common)
    for path in common:
        if ids[path] != base.blobs[path] and base.changed_here(path, ids[path]):
            out.append(Finding("check/edited", "error", path, _first_difference(base.read(path), files[path]),
                               f"edited, but this migration is already on {ref}: databases that applied it would "
                               "not get the change", f"restore it (git checkout {ref} -- {path}) and make the "
                               "change in a new migration (`sqlmig new`)"))  # fmt: skip
    for path in sorted(set(base.blobs) - set(files)):
        stem = _stem_of(path)
        if stem in base_stems and stem in head_stems and base.changed_here(path, None):
            out.append(Finding("check/edited", "error", path, 1, f"deleted, but this migration is already on {ref}",
                               f"restore it: git checkout {ref} -- {path}"))  # fmt: skip
    return out


def _missing(base: BaseTree, base_stems: dict, head_stems: dict, renamed: dict[str, str]) -> list[Finding]:
    """Base migrations absent here: renamed or removed by this branch, or added to the base after it forked."""
    out, ref, renamed_from = [], base.ref, {old: new for new, old in renamed.items()}
    for stem, path in sorted(base_stems.items()):
        if stem in head_stems:
            continue
        if stem in renamed_from:
            out.append(Finding("check/renamed", "error", head_stems[renamed_from[stem]], 1, f"renamed from {stem} "
                               f"(on {ref}); a migration's name is part of its identity in every database's history",
                               f"keep the name: git mv the three files back to {stem}"))  # fmt: skip
        elif base.changed_here(path, None):
            out.append(Finding("check/removed", "error", path, 1, f"removed, but this migration is on {ref} and "
                               "may have run", f"restore it: git checkout {ref} -- {path} and its rollback "
                               "and manifest"))  # fmt: skip
        else:
            out.append(Finding("check/behind-base", "info", path, 1, f"on {ref} but not on this branch yet",
                               f"merge {ref} into this branch to check the two together"))  # fmt: skip
    return out


def _renames(base: BaseTree, base_stems: dict, head_stems: dict, added: list[str]) -> dict[str, str]:
    """added stem -> the base stem it renames: one with its version that the base already had when this
    branch forked (so this branch saw it) and that is gone here. A version the base gained after the
    fork is not this branch's to rename: the same version added on both sides is a collision."""
    out: dict[str, str] = {}
    for stem, path in base_stems.items():
        if stem not in head_stems and base.had_at_fork(path):
            twin = next((s for s in added if _version(s) == _version(stem) and s not in out), None)
            if twin:
                out[twin] = stem
    return out


def _collision(base: BaseTree, stem: str, path: str, clash: str, base_stems: dict, head_stems: dict) -> Finding:
    """A migration this branch added whose version the base gives another migration."""
    ref, version = base.ref, NAME_RE.match(stem)["version"]
    renumber = f"`sqlmig new --renumber {stem}` to move this branch's migration after {ref}'s newest"
    if clash in head_stems:  # merged already: both are here
        return Finding("check/version-collision", "error", path, 1, f"version {version} is also {clash} on {ref}: "
                       "two migrations share it", renumber)  # fmt: skip
    since = "" if base.had_at_fork(base_stems[clash]) else " since this branch forked"
    return Finding("check/version-collision", "error", path, 1, f"version {version} was also added on {ref} "
                   f"({clash}){since}: merged, two migrations would share it",
                   f"git merge {ref}, then {renumber}")  # fmt: skip


def _base_findings(base: BaseTree, files: dict[str, bytes], allow_out_of_order: bool) -> tuple[list[Finding], list]:
    """Base migrations edited, removed or renamed here; new migrations whose version the base has, or that
    sort before the base's newest. Also returns the migrations this branch added (renames excluded)."""
    base_stems, head_stems = _stems(list(base.blobs)), _stems(list(files))
    added = sorted((s for s in head_stems if s not in base_stems), key=_version)
    renamed = _renames(base, base_stems, head_stems, added)
    out = _edited(base, files, base_stems, head_stems) + _missing(base, base_stems, head_stems, renamed)
    base_versions = {_version(s): s for s in sorted(base_stems)}
    newest = max(base_versions, default=-1)
    new = [s for s in added if s not in renamed]
    for stem in new:
        version = NAME_RE.match(stem)["version"]
        if int(version) in base_versions:
            out.append(_collision(base, stem, head_stems[stem], base_versions[int(version)], base_stems, head_stems))
        elif int(version) < newest:
            out.append(Finding("check/out-of-order", "info" if allow_out_of_order else "error", head_stems[stem], 1,
                               f"version {version} sorts before {base_versions[newest]}, the newest on {base.ref}: "
                               "databases already past it would apply this one out of order",
                               f"merge {base.ref} into this branch, then `sqlmig new --renumber {stem}`; for a "
                               "phase-based deploy that means it, pass --allow-out-of-order"))  # fmt: skip
    return out, new


def run_check(settings: Settings, *, base: str | None = None, allow_out_of_order: bool = False) -> CheckResult:
    """Check the project in settings.project_dir (and, with `base`, against that git ref). Never prints."""
    project, problems = read_project(settings)
    findings = [_load_finding(p) for p in problems]
    files = integrity.project_files(settings.project_dir)
    found = _stems(list(files))
    versions = {_version(s) for s in found}
    for m in project.migrations:
        agreed = check_migration(m, versions)
        findings += agreed + pre_run_findings(m, besides=agreed)  # and what apply would refuse, not said yet
    tree = read_base(settings.project_dir, base) if base else None
    new: list = []
    if tree is not None:
        base_findings, new = _base_findings(tree, files, allow_out_of_order)
        findings += base_findings
    shipped = {f.path for f in findings if f.rule == "check/edited"}
    # A stray file is said once, as such: `sqlmig hash` would list it, not make it belong.
    stray = {f.path for f in findings if f.rule == "check/files"}
    findings += [f for f in _sum_findings(files, settings, tree, shipped) if f.path not in stray]
    shown_base = f"{base} ({tree.commit[:12]})" if tree else None
    unreadable = len(set(found) - {m.stem for m in project.migrations})
    return CheckResult(sort_findings(set(findings)), len(found), shown_base, tuple(new), unreadable)
