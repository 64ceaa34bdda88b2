"""Validate a ZIP archive before anything is extracted from it.

An uploaded archive is refused as a whole, before a single member is read, when any entry
could escape the extraction directory (zip-slip), is a link or device, is encrypted, or when
the archive could exhaust the disk or memory: too many entries, too many bytes once
uncompressed, a suspicious compression ratio, or entries whose data overlap (the
"non-recursive zip bomb", where thousands of entries share one compressed kernel).

The sizes checked are those declared in the central directory; they are also the ones
``zipfile`` enforces while reading, since it stops at the declared size and verifies the
CRC, so a member cannot produce more than it declared.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, BinaryIO

from documents.engines.errors import UnsafeArchive

__all__ = [
    "DEFAULT_MAX_MEMBERS",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_TOTAL_UNCOMPRESSED",
    "iter_safe_zip",
    "safe_zip_members",
]

DEFAULT_MAX_MEMBERS = 1000
DEFAULT_MAX_TOTAL_UNCOMPRESSED = 1024**3
DEFAULT_MAX_RATIO = 100
# Small members compress far beyond any sane ratio (a page of spaces) and harm nobody, so
# the ratio is judged only for members larger than this.
RATIO_CHECK_MIN_SIZE = 1024**2

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_DRIVE = re.compile(r"^[A-Za-z]:")
_ALLOWED_TYPES = {0, stat.S_IFREG, stat.S_IFDIR}


def safe_zip_members(
    source: bytes | BinaryIO,
    *,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_total_uncompressed: int = DEFAULT_MAX_TOTAL_UNCOMPRESSED,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> list[zipfile.ZipInfo]:
    """Return the file members (not directories) of a ZIP archive once all of it is safe.

    ``source`` is the archive's bytes or a seekable binary file, which is left open.
    Raises ``UnsafeArchive`` naming the first problem found.
    """
    with _open_zip(source) as archive:
        return _validated(archive, max_members, max_total_uncompressed, max_ratio)


def iter_safe_zip(
    source: bytes | BinaryIO,
    *,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_total_uncompressed: int = DEFAULT_MAX_TOTAL_UNCOMPRESSED,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(name, reader)`` for each file member, after validating the whole archive.

    Each reader is valid until the next item is requested.
    """
    with _open_zip(source) as archive:
        for info in _validated(archive, max_members, max_total_uncompressed, max_ratio):
            with archive.open(info) as reader:
                yield info.filename, reader


@contextmanager
def _open_zip(source: bytes | BinaryIO) -> Iterator[zipfile.ZipFile]:
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeArchive(f"Not a readable ZIP archive: {exc}.") from exc
    with archive:
        yield archive


def _validated(
    archive: zipfile.ZipFile, max_members: int, max_total: int, max_ratio: int
) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > max_members:
        raise UnsafeArchive(f"The archive has {len(infos)} entries; the limit is {max_members}.")
    seen: set[str] = set()
    for info in infos:
        _check_name(info.filename)
        if info.filename in seen:
            raise UnsafeArchive(f"The archive holds {info.filename!r} twice.")
        seen.add(info.filename)
        _check_entry(info, max_ratio)
    total = sum(info.file_size for info in infos)
    if total > max_total:
        raise UnsafeArchive(
            f"The archive expands to {total} bytes; the limit is {max_total} bytes."
        )
    _check_no_overlap(archive, infos)
    return [info for info in infos if not info.is_dir()]


def _check_name(name: str) -> None:
    """Refuse a member name that could land outside the directory it is extracted into."""
    if "\\" in name:
        raise UnsafeArchive(f"Entry {name!r} contains a backslash.")
    if any(ord(ch) < 32 for ch in name):
        raise UnsafeArchive(f"Entry {name!r} contains a control character.")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeArchive(f"Entry {name!r} has an absolute path.")
    parts = name.removesuffix("/").split("/")
    if ".." in parts:
        raise UnsafeArchive(f"Entry {name!r} climbs out of the archive with '..'.")
    if any(part in ("", ".") for part in parts):
        raise UnsafeArchive(f"Entry {name!r} has an empty or '.' path segment.")


def _check_entry(info: zipfile.ZipInfo, max_ratio: int) -> None:
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        raise UnsafeArchive(f"Entry {info.filename!r} is a symbolic link.")
    if file_type not in _ALLOWED_TYPES:
        raise UnsafeArchive(f"Entry {info.filename!r} is a special file, not a regular one.")
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"Entry {info.filename!r} is encrypted.")
    if info.file_size > RATIO_CHECK_MIN_SIZE and info.file_size > max_ratio * max(
        info.compress_size, 1
    ):
        ratio = info.file_size // max(info.compress_size, 1)
        raise UnsafeArchive(
            f"Entry {info.filename!r} expands {ratio} times; the limit is {max_ratio}."
        )


def _check_no_overlap(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse entries whose local header and data overlap another's or the central directory."""
    stream = archive.fp
    if stream is None:
        raise UnsafeArchive("The archive is closed.")
    previous_end, previous_name = 0, None
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset < previous_end:
            raise UnsafeArchive(
                f"Entries {previous_name!r} and {info.filename!r} overlap (a zip bomb)."
            )
        previous_end = _data_end(stream, info)
        previous_name = info.filename
    if previous_end > archive.start_dir:
        raise UnsafeArchive(f"Entry {previous_name!r} overlaps the central directory.")


def _data_end(stream: IO[bytes], info: zipfile.ZipInfo) -> int:
    """Return the offset just past the entry's compressed data, read from its local header."""
    stream.seek(info.header_offset)
    header = stream.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
        raise UnsafeArchive(f"Entry {info.filename!r} has no valid local header.")
    fields = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = fields[-2], fields[-1]
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
