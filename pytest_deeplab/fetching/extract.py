"""Unpacking zoo tarballs without trusting them.

Every member is checked before anything is written: no absolute paths, no ``..``, links only
to places inside the archive (and never through ``..``, so a chain of links cannot climb out
either), no devices or FIFOs. Python 3.12+ (and 3.9-3.11 security releases) add tarfile's
``data`` filter on top; our own checks make the verdict the same on every version. Extraction
goes into a fresh directory the caller renames into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import fnmatch
import shutil
import tarfile
from pathlib import Path, PurePosixPath


class UnsafeMember(Exception):
    """A member that could write outside the target directory or create a special file."""


class NotAnArchive(Exception):
    """The file is not a readable tar archive (an HTML error page served with status 200, say)."""


def extract_archive(archive: Path, dest: Path) -> list[str]:
    """Check every member of ``archive``, then extract it into the (empty) directory ``dest``.

    On any failure ``dest`` is emptied again: a half-extracted tree is never left for a caller.
    """
    try:
        return _checked_extract(archive, dest)
    except BaseException:
        for child in list(dest.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        raise


def _checked_extract(archive: Path, dest: Path) -> list[str]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            _extract(tar, members, dest)
            return [m.name for m in members]
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, tarfile.FilterError):  # type: ignore[attr-defined,unused-ignore]
            raise UnsafeMember(str(exc)) from exc
        raise NotAnArchive(f"not a readable tar archive: {exc}") from exc
    except KeyError as exc:  # a hard link to a member the archive does not hold
        raise NotAnArchive(f"malformed tar archive: {exc.args[0]}") from exc
    except RecursionError:  # tarfile follows a link that leads back to itself without end
        raise UnsafeMember(
            "links in the archive refer to each other in a loop (e.g. a link named 'x/.' to "
            "'x'), which tarfile cannot resolve"
        ) from None


def check_member(member: tarfile.TarInfo) -> None:
    """Reject a member that could escape ``dest`` or create something other than files/dirs."""
    _check_path(member.name, member.name)
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hardlink"
        target = member.linkname
        if PurePosixPath(target).is_absolute() or _is_windows_absolute(target):
            raise UnsafeMember(f"{kind} {member.name!r} points to absolute path {target!r}")
        if ".." in PurePosixPath(target.replace("\\", "/")).parts:
            raise UnsafeMember(f"{kind} {member.name!r} points outside via {target!r}")
    elif member.ischr() or member.isblk():
        raise UnsafeMember(f"device file {member.name!r}")
    elif member.isfifo():
        raise UnsafeMember(f"FIFO {member.name!r}")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeMember(f"unsupported member type {member.type!r} for {member.name!r}")


def is_pattern(member: str) -> bool:
    """Whether a catalogue ``member`` is a glob (``*.tflite``) rather than a file name."""
    return any(ch in member for ch in "*?[")


def member_matches(path: str | PurePosixPath, member: str) -> bool:
    """Whether an archive path ends with ``member``'s components, each a name or a glob."""
    parts = PurePosixPath(path).parts
    wanted = PurePosixPath(member).parts
    if not wanted or len(parts) < len(wanted):
        return False
    return all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts[-len(wanted) :], wanted))


def find_member(root: Path, member: str) -> Path:
    """The extracted file whose path ends with ``member``; the shallowest wins, ties are errors.

    Zoo tarballs hold one top folder (named after the tarball, not always exactly), so the wanted
    file is matched by its trailing path components rather than by a fixed full path. A glob
    (``*.pb``) stands for "the archive's only such file": where the zoo does not document a
    member's name, two candidates are an error rather than a guess.
    """
    wanted = PurePosixPath(member).parts
    matches = [
        p
        for p in root.rglob(wanted[-1])
        if p.is_file() and member_matches(p.relative_to(root).as_posix(), member)
    ]
    matches.sort(key=lambda p: (len(p.parts), str(p)))
    names = ", ".join(str(p.relative_to(root)) for p in matches[:4])
    if is_pattern(member):
        if not matches:
            raise LookupError(f"the archive has no file matching {member!r}")
        if len(matches) > 1:
            raise LookupError(
                f"the archive has {len(matches)} files matching {member!r} ({names}), so which "
                "one is the model is unclear; set the model's `member` to one of them"
            )
        return matches[0]
    if not matches:
        raise LookupError(f"the archive has no {member!r}")
    if len(matches) > 1 and len(matches[0].parts) == len(matches[1].parts):
        raise LookupError(f"the archive has several {member!r}: {names}")
    return matches[0]


def _check_path(name: str, shown: str) -> None:
    posix = name.replace("\\", "/")
    if PurePosixPath(posix).is_absolute() or _is_windows_absolute(name):
        raise UnsafeMember(f"absolute path {shown!r}")
    if ".." in PurePosixPath(posix).parts:
        raise UnsafeMember(f"path with '..' {shown!r}")


def _is_windows_absolute(name: str) -> bool:
    return len(name) >= 2 and name[1] == ":" and name[0].isalpha()


def _extract(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, members=members, filter="data")
    else:  # pragma: no cover - Python without PEP 706; our checks above already ran
        tar.extractall(dest, members=members)
