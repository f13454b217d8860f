"""The pull-request check: every file valid, every manifest true to its SQL, nothing shipped edited.

`run_check` reads the whole project (reporting what does not load instead of stopping),
holds each manifest to its SQL (sqlmig.agreements), verifies migrations.sum, and with a
base ref compares the working tree with the base's files through git, without a
checkout: migrations on the base must be byte-identical here, and new ones must come
after the base's newest version. On a branch that has not merged its base yet, what the
base gained or changed after the fork point (git merge-base) is not held against it.

Exit policy (CheckResult.exit_code): integrity problems (migrations.sum, a base
migration edited, removed or renamed, a version out of order) exit 3; any other error
exits 2; warnings and notes alone exit 0, unless `strict` makes warnings fail (2).
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
from sqlmig.project import NAME_RE, read_project

INTEGRITY_RULES = frozenset({"check/sum", "check/edited", "check/removed", "check/renamed", "check/out-of-order"})
_WHERE = re.compile(r"^(?P<path>[^:\s]+?)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?: (?P<msg>.*)$", re.S)


@dataclass(frozen=True)
class CheckResult:
    findings: list[Finding]
    migrations: int  # how many migrations were read
    base: str | None = None  # "REF (commit)" when compared with a base
    new: tuple[str, ...] = field(default=())  # stems added relative to the base

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


def _sum_findings(files: dict[str, bytes], settings: Settings, base: BaseTree | None) -> list[Finding]:
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
        hint = ("after a merge, run `sqlmig hash`, then this check again" if mm.what in ("conflict", "total")
                else "if the file is right (new, or edited before it ran anywhere) run `sqlmig hash`; "
                "otherwise restore it from git")  # fmt: skip
        out.append(Finding("check/sum", "error", mm.path, line, mm.render().split(": ", 1)[1], hint))
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


def _missing(base: BaseTree, base_stems: dict, head_stems: dict) -> list[Finding]:
    """Base migrations absent here: removed or renamed by this branch, or added to the base after it forked."""
    out, ref = [], base.ref
    for stem, path in sorted(base_stems.items()):
        if stem in head_stems:
            continue
        twin = next((s for s in head_stems if _version(s) == _version(stem)), None)
        if twin:
            out.append(Finding("check/renamed", "error", head_stems[twin], 1, f"renamed from {stem} (on {ref}); a "
                               "migration's name is part of its identity in every database's history",
                               f"keep the name: git mv the three files back to {stem}"))  # fmt: skip
        elif base.changed_here(path, None):
            out.append(Finding("check/removed", "error", path, 1, f"removed, but this migration is on {ref} and "
                               "may have run", f"restore it: git checkout {ref} -- {path} and its rollback "
                               "and manifest"))  # fmt: skip
        else:
            out.append(Finding("check/behind-base", "info", path, 1, f"on {ref} but not on this branch yet",
                               f"merge {ref} into this branch to check the two together"))  # fmt: skip
    return out


def _base_findings(base: BaseTree, files: dict[str, bytes], allow_out_of_order: bool) -> tuple[list[Finding], list]:
    """Base migrations edited, removed or renamed here; new migrations that sort before the base's newest."""
    base_stems, head_stems = _stems(list(base.blobs)), _stems(list(files))
    out = _edited(base, files, base_stems, head_stems) + _missing(base, base_stems, head_stems)
    base_versions = {_version(s): s for s in base_stems}
    newest = max(base_versions, default=-1)
    new = sorted((s for s in head_stems if _version(s) not in base_versions), key=_version)
    for stem in new:
        version = NAME_RE.match(stem)["version"]
        if int(version) < newest:
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
    versions = {_version(s) for s in _stems(list(files))}
    for m in project.migrations:
        findings += check_migration(m, versions)
    tree = read_base(settings.project_dir, base) if base else None
    findings += _sum_findings(files, settings, tree)
    new: list = []
    if tree is not None:
        base_findings, new = _base_findings(tree, files, allow_out_of_order)
        findings += base_findings
    shown_base = f"{base} ({tree.commit[:12]})" if tree else None
    return CheckResult(sort_findings(set(findings)), len(project.migrations), shown_base, tuple(new))
