"""Reading a base git ref's migration files without checking it out (`git ls-tree`, `git cat-file`).

`sqlmig check --base origin/main` compares the working tree with the files as they are
on the base: object ids come from `git ls-tree`, the working tree's from
`git hash-object` (which applies the same clean filters, so line-ending conversion
does not count as an edit), and contents are read with `git cat-file` only for the
files that differ. Paths are relative to the project folder, which may be a
subfolder of the repository.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlmig.errors import UsageError

FOLDERS = ("migrations", "rollback", "manifests")
SUM_FILE = "migrations.sum"


@dataclass(frozen=True)
class BaseTree:
    ref: str
    commit: str
    blobs: dict[str, str]  # project-relative path -> git object id: the three folders and migrations.sum
    project_dir: Path
    # The same at the merge base of `ref` and HEAD, when that is not `ref` itself (a branch that has not
    # merged its base yet): what the base gained or changed after the fork is not this branch's doing.
    fork: dict[str, str] | None = None

    def changed_here(self, path: str, worktree_id: str | None) -> bool:
        """Whether this branch (not the base, after the fork) made `path` differ from the base."""
        return self.fork is None or self.fork.get(path) != worktree_id

    def had_at_fork(self, path: str) -> bool:
        """Whether the base already had `path` where this branch forked (so this branch started with it)."""
        return self.fork is None or path in self.fork

    def read(self, path: str) -> bytes:
        """The base's bytes of one file."""
        return _git(self.project_dir, "cat-file", "blob", self.blobs[path]).stdout

    def worktree_ids(self, paths: list[str]) -> dict[str, str]:
        """Git object ids of working-tree files, as `git add` would store them."""
        if not paths:
            return {}
        # Absolute paths: git reads --stdin-paths from the repository root, not from the project folder.
        absolute = "\n".join(str((self.project_dir / p).resolve()) for p in paths)
        out = _git(self.project_dir, "hash-object", "--stdin-paths", stdin=absolute.encode() + b"\n")
        return dict(zip(paths, out.stdout.decode().split(), strict=True))


def _git(cwd: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise UsageError("--base needs git, and git is not installed (or not on PATH)") from exc
    if check and res.returncode != 0:
        raise UsageError(f"git {args[0]} failed: {res.stderr.decode(errors='replace').strip()}", where=str(cwd))
    return res


def repo_prefix(project_dir: Path) -> str | None:
    """The project folder relative to the repository root ('' at the root, 'db/' in a subfolder), None outside git."""
    if not project_dir.is_dir():
        return None
    try:
        res = _git(project_dir, "rev-parse", "--show-prefix", check=False)
    except UsageError:
        return None
    return res.stdout.decode().strip() if res.returncode == 0 else None


def read_base(project_dir: Path, ref: str) -> BaseTree:
    """The migration files of `ref`. UsageError (exit 2) when this is no git repository or the ref is unknown."""
    if repo_prefix(project_dir) is None:
        raise UsageError(
            f"--base needs a git repository, and {project_dir.resolve()} is not inside one",
            hint="run sqlmig check without --base, or from a clone of the repository",
        )
    res = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if res.returncode != 0:
        raise UsageError(
            f"--base {ref}: no such commit, branch or tag in this clone",
            hint=f"fetch it first (git fetch origin {ref.removeprefix('origin/')}); in GitHub Actions check out "
            "with fetch-depth: 0 so the base branch is there",
        )
    commit = res.stdout.decode().strip()
    fork = _git(project_dir, "merge-base", commit, "HEAD", check=False)
    fork_commit = fork.stdout.decode().strip() if fork.returncode == 0 else commit
    return BaseTree(ref=ref, commit=commit, blobs=_blobs(project_dir, commit), project_dir=project_dir,
                    fork=_blobs(project_dir, fork_commit) if fork_commit != commit else None)  # fmt: skip


def _blobs(project_dir: Path, commit: str) -> dict[str, str]:
    """project-relative path -> object id of the migration files and migrations.sum in one commit."""
    listing = _git(project_dir, "ls-tree", "-r", "-z", commit, "--", *FOLDERS, SUM_FILE).stdout.decode()
    blobs = {}
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        _mode, kind, oid = meta.split()
        if kind == "blob":
            blobs[path] = oid
    return blobs
