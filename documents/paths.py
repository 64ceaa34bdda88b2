"""Server paths a user may import from: only files inside settings.DOCUMENTS_IMPORT_ROOTS.

A path is refused when it holds a NUL byte or a ``..`` segment, when it does not exist, or
when, with every symbolic link resolved, it lies outside all import roots (an absolute path
elsewhere, or a link inside a root pointing out of it). Relative paths are read against the
first root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePath

from django.conf import settings

from documents.engines.errors import DocumentRejected

__all__ = ["UnsafePath", "import_roots", "iter_import_files", "resolve_import_path"]


class UnsafePath(DocumentRejected):
    """A server path that is outside the import roots, malformed, or missing."""

    code = "unsafe_path"


def import_roots() -> list[Path]:
    """Return the configured import roots, resolved (a root that is a link is followed)."""
    return [Path(root).resolve() for root in settings.DOCUMENTS_IMPORT_ROOTS]


def resolve_import_path(raw: str, *, directory: bool = False) -> Path:
    """Return the real path of ``raw`` if it is a file (or ``directory``) inside an import root.

    Raises ``UnsafePath`` saying why otherwise.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise UnsafePath("The path is empty.")
    if "\x00" in raw:
        raise UnsafePath("The path contains a NUL byte.")
    if ".." in PurePath(raw).parts:
        raise UnsafePath("The path may not contain '..'.")
    roots = import_roots()
    if not roots:
        raise UnsafePath("Importing server paths is disabled (DOCUMENTS_IMPORT_ROOTS is empty).")
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise UnsafePath(f"No such file or directory: {raw}.") from None
    except (OSError, RuntimeError) as exc:
        raise UnsafePath(f"The path cannot be resolved: {exc}.") from None
    if not any(real.is_relative_to(root) for root in roots):
        raise UnsafePath(
            "The path is outside the allowed import directories "
            "(a symbolic link pointing out of them counts as outside)."
        )
    if directory and not real.is_dir():
        raise UnsafePath(f"Not a directory: {raw}.")
    if not directory and not real.is_file():
        raise UnsafePath(f"Not a regular file: {raw}.")
    return real


def iter_import_files(directory: Path) -> Iterator[tuple[str, Path | None, str]]:
    """Yield ``(relative name, real path or None, refusal)`` for every file under ``directory``.

    ``directory`` must come from ``resolve_import_path``. Files are yielded in a stable
    (sorted) order so a resumed import walks them the same way. A link whose target is
    outside the import roots, or is not a regular file, and a linked directory (never
    followed) are yielded with ``None`` and the reason, so the import records them instead
    of reading them.
    """
    roots = import_roots()
    for current, dirs, files in os.walk(directory, followlinks=False):
        dirs.sort()
        # os.walk lists a linked directory among the directories and does not enter it.
        linked = [name for name in dirs if (Path(current) / name).is_symlink()]
        for name in sorted([*files, *linked]):
            path = Path(current) / name
            relative = path.relative_to(directory).as_posix()
            real = path.resolve()
            if name in linked:
                yield relative, None, "A linked directory is not followed."
            elif not any(real.is_relative_to(root) for root in roots):
                yield relative, None, "The file links outside the allowed import directories."
            elif not real.is_file():
                yield relative, None, "Not a regular file."
            else:
                yield relative, real, ""
