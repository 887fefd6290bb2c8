"""Submissions are unpacked defensively into a private copy of diffusion_hw/."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from grader.errors import GraderError, SubmissionError
from grader.intake.submission import find_package, open_submission, resolve_path, safe_extract

PACKAGE_INIT = "VALUE = 1\n"


def make_zip(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_a_zip_of_the_package_folder_is_unpacked(tmp_path):
    archive = make_zip(tmp_path / "alice.zip",
                       {"alice/diffusion_hw/__init__.py": PACKAGE_INIT, "alice/notes.txt": "hi"})
    with open_submission(archive) as submission:
        assert submission.name == "alice"
        assert (submission.root / "diffusion_hw" / "__init__.py").read_text() == PACKAGE_INIT
        assert not (submission.root / "notes.txt").exists()
    assert not submission.root.exists(), "the private copy is removed afterwards"


def test_a_folder_is_copied_without_caches(tmp_path):
    (tmp_path / "bob" / "diffusion_hw" / "__pycache__").mkdir(parents=True)
    (tmp_path / "bob" / "diffusion_hw" / "__init__.py").write_text(PACKAGE_INIT)
    (tmp_path / "bob" / "diffusion_hw" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    with open_submission(tmp_path / "bob") as submission:
        assert submission.root != tmp_path / "bob"
        assert sorted(p.name for p in (submission.root / "diffusion_hw").iterdir()) == ["__init__.py"]


def test_the_package_folder_itself_is_accepted(tmp_path):
    (tmp_path / "diffusion_hw").mkdir()
    (tmp_path / "diffusion_hw" / "__init__.py").write_text(PACKAGE_INIT)
    assert find_package(tmp_path / "diffusion_hw") == tmp_path


@pytest.mark.parametrize(
    "members, symlink, reason",
    [
        ({"/etc/diffusion_hw/__init__.py": PACKAGE_INIT}, None, "absolute path"),
        ({"../diffusion_hw/__init__.py": PACKAGE_INIT}, None, "leaves its folder"),
        ({"a/../../diffusion_hw/__init__.py": PACKAGE_INIT}, None, "leaves its folder"),
        ({"C:\\diffusion_hw\\__init__.py": PACKAGE_INIT}, None, "absolute path"),
        ({"diffusion_hw/__init__.py": PACKAGE_INIT}, "diffusion_hw/link.py", "symbolic link"),
    ],
)
def test_unsafe_zip_members_are_refused_with_a_clear_message(tmp_path, members, symlink, reason):
    archive = make_zip(tmp_path / "evil.zip", members, symlink=symlink)
    with pytest.raises(SubmissionError, match=reason):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "diffusion_hw").exists()


def test_a_zip_bomb_is_refused_before_filling_the_disk(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip",
                       {"diffusion_hw/__init__.py": PACKAGE_INIT, "diffusion_hw/zeros.bin": b"\0" * (3 << 20)})
    assert archive.stat().st_size < 100_000
    with pytest.raises(SubmissionError, match="zip bomb|at most"):
        safe_extract(archive, tmp_path / "out", max_bytes=1 << 20)


def test_a_zip_whose_header_understates_its_size_is_stopped_while_reading(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "liar.zip",
                       {"diffusion_hw/__init__.py": PACKAGE_INIT, "diffusion_hw/zeros.bin": b"\0" * (3 << 20)})
    original = zipfile.ZipFile.infolist

    def understated(self):
        infos = original(self)
        for info in infos:
            info.file_size = 10  # what a forged header would claim
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", understated)
    with pytest.raises(SubmissionError):
        safe_extract(archive, tmp_path / "out", max_bytes=1 << 20)


def test_not_a_zip_and_no_package_are_submission_errors(tmp_path):
    (tmp_path / "garbage.zip").write_bytes(b"this is not a zip")
    with pytest.raises(SubmissionError, match="not a .zip"):
        with open_submission(tmp_path / "garbage.zip"):
            pass
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionError, match="no diffusion_hw/ package"):
        with open_submission(tmp_path / "empty"):
            pass


def test_two_packages_are_ambiguous(tmp_path):
    for who in ("a", "b"):
        (tmp_path / who / "diffusion_hw").mkdir(parents=True)
        (tmp_path / who / "diffusion_hw" / "__init__.py").write_text(PACKAGE_INIT)
    with pytest.raises(SubmissionError, match="exactly one"):
        find_package(tmp_path)


def test_symlinks_in_a_folder_submission_are_refused(tmp_path):
    (tmp_path / "s" / "diffusion_hw").mkdir(parents=True)
    (tmp_path / "s" / "diffusion_hw" / "__init__.py").write_text(PACKAGE_INIT)
    (tmp_path / "s" / "diffusion_hw" / "schedules.py").symlink_to("/etc/hostname")
    with pytest.raises(SubmissionError, match="symbolic link"):
        with open_submission(tmp_path / "s"):
            pass


def test_a_missing_path_is_a_grader_error_and_solution_resolves_from_the_repository(tmp_path, monkeypatch):
    with pytest.raises(GraderError, match="does not exist"):
        resolve_path(tmp_path / "nope")
    monkeypatch.chdir(tmp_path)
    assert (resolve_path("solution") / "diffusion_hw").is_dir()
