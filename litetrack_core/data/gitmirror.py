"""Read files of a public repository at a pinned commit from a local copy of it.

A local copy is a git directory (bare, or the ``.git`` of a clone) found in a mirror folder under one
of these names, first match wins::

    MIRROR/owner+name/repo      (this project's mirrors: bare, or a clone with a work tree)
    MIRROR/owner+name
    MIRROR/owner/name           (what ``clone_repository`` and ``git clone`` into MIRROR/owner give)
    MIRROR/name

Files are read from git objects (``git ls-tree``, ``git cat-file --batch``), never from a work tree,
so what is read is exactly the pinned commit's content whatever is checked out.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitError", "GitRepo", "TreeEntry", "clone_repository", "find_repository"]


class GitError(Exception):
    """A repository, commit or path that cannot be read; the message names it."""


@dataclass(frozen=True)
class TreeEntry:
    """One file of a folder at a commit: its name, blob id and size in bytes."""

    name: str
    blob: str
    size: int


def _git_dir(path: Path) -> Path | None:
    if (path / ".git").is_dir():
        return path / ".git"
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return path
    return None


def find_repository(mirror: str | Path, repo: str) -> "GitRepo | None":
    """The local copy of ``repo`` ("owner/name") under ``mirror``, or None."""
    owner, _, name = repo.partition("/")
    root = Path(mirror)
    for candidate in (root / f"{owner}+{name}" / "repo", root / f"{owner}+{name}", root / owner / name, root / name):
        git_dir = _git_dir(candidate)
        if git_dir is not None:
            return GitRepo(git_dir, repo)
    return None


def clone_repository(mirror: str | Path, repo: str, base_url: str = "https://github.com") -> "GitRepo":
    """``git clone --bare`` of ``base_url/owner/name`` into ``mirror/owner/name`` (where the internet is
    reachable; ``base_url`` may also be a local folder of repositories). Raises GitError on failure."""
    owner, _, name = repo.partition("/")
    target = Path(mirror) / owner / name
    target.parent.mkdir(parents=True, exist_ok=True)
    source = f"{base_url.rstrip('/')}/{owner}/{name}"
    done = subprocess.run(["git", "clone", "--bare", "--quiet", source, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        raise GitError(f"cannot clone {source}: {done.stderr.strip() or 'git exited ' + str(done.returncode)}")
    return GitRepo(target, repo)


class GitRepo:
    """Read-only access to one repository's objects. Use as a context manager (or call ``close``):
    it keeps one ``git cat-file --batch`` process for reading blobs."""

    def __init__(self, git_dir: Path, name: str) -> None:
        self.git_dir = Path(git_dir)
        self.name = name
        self._batch: subprocess.Popen | None = None

    def __enter__(self) -> "GitRepo":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._batch is not None:
            self._batch.stdin.close()
            self._batch.wait()
            self._batch = None

    def _run(self, *args: str) -> str:
        done = subprocess.run(["git", "--git-dir", str(self.git_dir), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise GitError(f"{self.name}: git {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def has_commit(self, commit: str) -> bool:
        done = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
        )
        return done.returncode == 0

    def head(self) -> str:
        """The commit HEAD points at (40 hex digits)."""
        return self._run("rev-parse", "HEAD").strip()

    def list_folder(self, commit: str, path: str) -> list[TreeEntry]:
        """The files (not subfolders) directly in ``path`` at ``commit``. Raises GitError when the folder
        does not exist there."""
        out = self._run("ls-tree", "-l", "-z", f"{commit}:{path.strip('/')}")
        entries = []
        for record in out.split("\0"):
            if not record:
                continue
            meta, name = record.split("\t", 1)
            _mode, kind, blob, size = meta.split()
            if kind == "blob":
                entries.append(TreeEntry(name, blob, int(size) if size.isdigit() else -1))
        return entries

    def read(self, commit: str, path: str) -> bytes:
        """The bytes of ``path`` at ``commit``. Raises GitError when it is not there."""
        return self.read_blob(f"{commit}:{path.strip('/')}")

    def read_blob(self, ref: str) -> bytes:
        """The bytes of an object named by a blob id or ``commit:path``."""
        if self._batch is None:
            self._batch = subprocess.Popen(
                ["git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )
        self._batch.stdin.write(ref.encode() + b"\n")
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().decode().split()
        if len(header) != 3:  # "<ref> missing" (or ambiguous)
            raise GitError(f"{self.name}: no file {ref}")
        _oid, kind, size = header
        data = self._batch.stdout.read(int(size))
        self._batch.stdout.read(1)  # the newline after the content
        if kind != "blob":
            raise GitError(f"{self.name}: {ref} is a {kind}, not a file")
        return data
