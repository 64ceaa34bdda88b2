"""Tests for documents.engines.archive: every refusal, checked on real archives."""

import io
import stat
import struct
import zipfile

import pytest

from documents.engines.archive import iter_safe_zip, safe_zip_members
from documents.engines.errors import UnsafeArchive

CENTRAL_SIGNATURE = b"PK\x01\x02"


def _zip(members, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """Return a ZIP of ``members``: (name or ZipInfo, content) pairs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def _patch_central_record(data: bytes, index: int, field_offset: int, fmt: str, value) -> bytes:
    """Return ``data`` with one field of the ``index``-th central directory record rewritten."""
    position = -1
    for _ in range(index + 1):
        position = data.index(CENTRAL_SIGNATURE, position + 1)
    patched = bytearray(data)
    struct.pack_into(fmt, patched, position + field_offset, value)
    return bytes(patched)


def _refusal(data, **limits) -> str:
    with pytest.raises(UnsafeArchive) as caught:
        safe_zip_members(data, **limits)
    assert caught.value.code == "unsafe_archive"
    return caught.value.message


def test_a_plain_archive_lists_its_files_without_directories():
    data = _zip([("合同/", b""), ("合同/借款合同.txt", "借款".encode()), ("readme.md", b"# hi")])
    assert [info.filename for info in safe_zip_members(data)] == ["合同/借款合同.txt", "readme.md"]


def test_iter_safe_zip_yields_names_and_readable_content():
    data = _zip([("a.txt", b"alpha"), ("dir/b.txt", b"beta")])
    assert [(name, reader.read()) for name, reader in iter_safe_zip(data)] == [
        ("a.txt", b"alpha"),
        ("dir/b.txt", b"beta"),
    ]


def test_a_file_object_is_accepted_and_left_open():
    stream = io.BytesIO(_zip([("a.txt", b"alpha")]))
    assert [info.filename for info in safe_zip_members(stream)] == ["a.txt"]
    assert not stream.closed


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil.txt", "climbs out of the archive"),
        ("docs/../../evil.txt", "climbs out of the archive"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.dll", "absolute path"),
        ("c:evil.txt", "absolute path"),
        ("docs\\..\\evil.txt", "backslash"),
        ("docs//evil.txt", "empty or '.' path segment"),
        ("./evil.txt", "empty or '.' path segment"),
        ("evil\x1b.txt", "control character"),
    ],
)
def test_zip_slip_names_are_refused(name, message):
    data = _zip([("ok.txt", b"fine"), (zipfile.ZipInfo(name), b"payload")])
    assert message in _refusal(data)


def test_symlink_entries_are_refused():
    link = zipfile.ZipInfo("link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert _refusal(_zip([(link, b"/etc/passwd")])) == "Entry 'link' is a symbolic link."


def test_device_entries_are_refused():
    device = zipfile.ZipInfo("dev")
    device.create_system = 3
    device.external_attr = (stat.S_IFCHR | 0o600) << 16
    assert "special file" in _refusal(_zip([(device, b"")]))


def test_duplicate_names_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", b"one")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("a.txt", b"two")
    assert _refusal(buffer.getvalue()) == "The archive holds 'a.txt' twice."


def test_too_many_entries_are_refused():
    data = _zip([(f"{i}.txt", b"x") for i in range(4)])
    assert _refusal(data, max_members=3) == "The archive has 4 entries; the limit is 3."
    assert len(safe_zip_members(data, max_members=4)) == 4


def test_declared_total_size_is_limited():
    data = _zip([("a.txt", b"x" * 6), ("b.txt", b"y" * 6)])
    assert _refusal(data, max_total_uncompressed=11) == (
        "The archive expands to 12 bytes; the limit is 11 bytes."
    )


def test_highly_compressed_large_member_is_refused():
    data = _zip([("zeros.bin", b"\x00" * (2 * 1024**2))])
    message = _refusal(data)
    assert message.startswith("Entry 'zeros.bin' expands ")
    assert message.endswith(" times; the limit is 100.")
    assert len(safe_zip_members(data, max_ratio=5000)) == 1


def test_small_members_may_compress_well():
    assert len(safe_zip_members(_zip([("spaces.txt", b" " * 100_000)]))) == 1


def test_overlapping_entries_are_refused_as_a_zip_bomb():
    data = _zip([("a.txt", b"A" * 100), ("b.txt", b"B" * 100)], compression=zipfile.ZIP_STORED)
    # Point the second entry at the first one's local header, as overlapping zip bombs do.
    bomb = _patch_central_record(data, index=1, field_offset=42, fmt="<I", value=0)
    assert _refusal(bomb) == "Entries 'a.txt' and 'b.txt' overlap (a zip bomb)."


def test_entry_running_into_the_central_directory_is_refused():
    data = _zip([("a.txt", b"A" * 100)], compression=zipfile.ZIP_STORED)
    inflated = _patch_central_record(data, index=0, field_offset=20, fmt="<I", value=10_000)
    assert _refusal(inflated) == "Entry 'a.txt' overlaps the central directory."


def test_encrypted_entries_are_refused():
    data = _zip([("secret.txt", b"hidden")])
    encrypted = _patch_central_record(data, index=0, field_offset=8, fmt="<H", value=0x1)
    assert _refusal(encrypted) == "Entry 'secret.txt' is encrypted."


def test_garbage_is_not_an_archive():
    assert _refusal(b"this is not a zip").startswith("Not a readable ZIP archive")
