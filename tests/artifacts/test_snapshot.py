"""Code snapshots: what a folder's snapshot holds (links, ignore rules) and how an uploaded one
is unpacked (on every Python ``requires-python`` admits, including 3.11.0–3.11.3, which have no
``tarfile`` extraction filters)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from ember.artifacts.snapshot import collect_files, extract_tar, tar_bytes, tree_hash
from ember.artifacts.store import safe_relpath
from ember.errors import InvalidInputError


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def test_round_trip_keeps_files_and_the_execute_bit(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('hi')\n")
    (src / "pkg" / "run.sh").write_text("#!/bin/sh\necho ok\n")
    (src / "pkg" / "run.sh").chmod(0o755)
    files = collect_files(src)
    out = extract_tar(io.BytesIO(tar_bytes(files)), tmp_path / "out")
    assert [rel for rel, _ in out] == ["pkg/run.sh", "train.py"]
    assert tree_hash(out) == tree_hash(files)
    assert (tmp_path / "out/pkg/run.sh").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out/train.py").stat().st_mode & 0o777 == 0o644


def test_extraction_does_not_use_tarfile_filters(tmp_path: Path) -> None:
    """Python 3.11.0–3.11.3 (Debian 12's 3.11.2) have no ``extractall(filter=...)``: every
    code upload answered 500 there (CI runs the README demo on that interpreter). A setuid
    bit in the archive is dropped as the ``data`` filter would."""
    info = tarfile.TarInfo("tool.sh")
    info.mode = 0o4777
    out = extract_tar(_tar([(info, b"echo\n")]), tmp_path / "out")
    assert [rel for rel, _ in out] == ["tool.sh"]
    assert (tmp_path / "out/tool.sh").stat().st_mode & 0o7777 == 0o755


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil", "a/../../evil", "a\\b"])
def test_members_that_escape_are_refused(tmp_path: Path, name: str) -> None:
    info = tarfile.TarInfo(name)
    with pytest.raises(InvalidInputError):
        extract_tar(_tar([(info, b"x")]), tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_links_and_devices_in_an_upload_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(InvalidInputError, match="'link' is a link or device"):
        extract_tar(_tar([(link, None)]), tmp_path / "out")
    assert not (tmp_path / "out" / "link").exists()


def test_a_file_and_a_folder_of_one_name_is_a_clear_error(tmp_path: Path) -> None:
    a, ab = tarfile.TarInfo("a"), tarfile.TarInfo("a/b")
    with pytest.raises(InvalidInputError, match="'a/b' cannot be written"):
        extract_tar(_tar([(a, b"1"), (ab, b"2")]), tmp_path / "out")


def test_a_tar_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a readable tar archive"):
        extract_tar(io.BytesIO(b"\xff" * 1000), tmp_path / "out")


def test_symlinked_folders_are_followed_like_symlinked_files(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "util.py").write_text("X = 1\n")
    (shared / "data.txt").write_text("d\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import util\n")
    os.symlink(shared, src / "lib")                       # a folder link: was silently dropped
    os.symlink(shared / "data.txt", src / "data.txt")     # a file link: always followed
    rels = [rel for rel, _ in collect_files(src)]
    assert rels == ["data.txt", "lib/data.txt", "lib/util.py", "train.py"]


def test_a_link_loop_is_refused_naming_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f.py").write_text("")
    os.symlink(src, src / "a" / "back")
    with pytest.raises(InvalidInputError, match=r"a/back in .* loop"):
        collect_files(src)


def test_a_link_cycle_through_two_folders_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    os.symlink(src / "b", src / "a" / "to_b")
    os.symlink(src / "a", src / "b" / "to_a")
    with pytest.raises(InvalidInputError, match="loop"):
        collect_files(src)


def test_a_dangling_link_is_refused_naming_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.symlink(tmp_path / "gone", src / "model.pkl")
    with pytest.raises(InvalidInputError, match=r"model\.pkl in .* symbolic link to nothing"):
        collect_files(src)


def test_an_ignored_dangling_link_is_fine(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / ".amlignore").write_text("*.pkl\n")
    (src / "train.py").write_text("")
    os.symlink(tmp_path / "gone", src / "model.pkl")
    assert [rel for rel, _ in collect_files(src)] == [".amlignore", "train.py"]


@pytest.mark.parametrize("path", ["out/\ufffd.txt", "\ufffd"])
def test_paths_with_invalid_percent_encoded_bytes_are_refused(path: str) -> None:
    """Starlette decodes %ff and %fe alike to U+FFFD: two names would land on one file."""
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        safe_relpath(path)
