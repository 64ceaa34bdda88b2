"""Server paths: only files inside DOCUMENTS_IMPORT_ROOTS, however they are spelt."""

import pytest

from documents.paths import UnsafePath, iter_import_files, resolve_import_path


@pytest.fixture
def tree(import_root, tmp_path):
    (import_root / "cases").mkdir()
    (import_root / "cases" / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "elsewhere").mkdir()
    return import_root


def test_relative_and_absolute_paths_inside_a_root_resolve(tree):
    real = (tree / "cases" / "a.txt").resolve()
    assert resolve_import_path("cases/a.txt") == real
    assert resolve_import_path(str(tree / "cases" / "a.txt")) == real
    assert resolve_import_path("cases", directory=True) == (tree / "cases").resolve()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("../secret.txt", "may not contain '..'"),
        ("cases/../../secret.txt", "may not contain '..'"),
        ("cases/a.txt\x00.pdf", "NUL byte"),
        ("", "empty"),
        ("cases/missing.txt", "No such file or directory"),
        ("cases", "Not a regular file"),
    ],
)
def test_malformed_and_missing_paths_are_refused(tree, raw, message):
    with pytest.raises(UnsafePath, match=message):
        resolve_import_path(raw)


def test_an_absolute_path_outside_the_roots_is_refused(tree, tmp_path):
    with pytest.raises(UnsafePath, match="outside the allowed import directories"):
        resolve_import_path(str(tmp_path / "secret.txt"))
    with pytest.raises(UnsafePath, match="outside"):
        resolve_import_path("/etc/passwd")


def test_a_symlink_pointing_out_of_the_root_is_refused(tree, tmp_path):
    (tree / "cases" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (tree / "escape").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePath, match="outside"):
        resolve_import_path("cases/link.txt")
    with pytest.raises(UnsafePath, match="outside"):
        resolve_import_path("escape", directory=True)


def test_a_symlink_inside_the_root_is_followed(tree):
    (tree / "alias.txt").symlink_to(tree / "cases" / "a.txt")
    assert resolve_import_path("alias.txt") == (tree / "cases" / "a.txt").resolve()


def test_a_prefix_sibling_of_a_root_is_outside(tree, tmp_path):
    sibling = tmp_path / "imports-evil"
    sibling.mkdir()
    (sibling / "x.txt").write_text("x")
    with pytest.raises(UnsafePath, match="outside"):
        resolve_import_path(str(sibling / "x.txt"))


def test_no_roots_means_no_server_paths(tree, settings):
    settings.DOCUMENTS_IMPORT_ROOTS = []
    with pytest.raises(UnsafePath, match="disabled"):
        resolve_import_path("cases/a.txt")


def test_walking_a_directory_flags_links_out_and_skips_linked_directories(tree, tmp_path):
    (tree / "cases" / "out.txt").symlink_to(tmp_path / "secret.txt")
    (tree / "cases" / "dir-link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "hidden.txt").write_text("hidden")
    found = list(iter_import_files(resolve_import_path("cases", directory=True)))
    assert [(name, path is not None, reason) for name, path, reason in found] == [
        ("a.txt", True, ""),
        ("dir-link", False, "A linked directory is not followed."),
        ("out.txt", False, "The file links outside the allowed import directories."),
    ]
