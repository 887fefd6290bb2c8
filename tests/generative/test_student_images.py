"""Student image files (samples, the anagram) are decoded in the sandbox, never by the grading process."""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import pytest
import torch
from PIL import Image

from grader.generative import student_images
from grader.generative.student_images import MAX_PIXELS, decode_images
from grader.metrics.clip_score import read_anagram
from grader.sandbox import ProbeResult


def save_faces(folder, count=3, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((size, size, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return folder


@pytest.fixture
def grader_never_opens_images(monkeypatch):
    """Pillow's decoders in this process fail loudly: only the sandbox may decode a student's file."""

    def refuse(*args, **kwargs):
        raise AssertionError("the grading process opened a student's image")

    monkeypatch.setattr(PIL.Image, "open", refuse)


def test_images_are_decoded_in_the_sandbox_as_rgb_uint8(tmp_path, grader_never_opens_images):
    folder = save_faces(tmp_path / "samples")
    Image.new("L", (8, 8), 200).save(folder / "grey.png")  # grey converted to RGB, as clean-fid does
    images = decode_images(folder)
    assert images.dtype == torch.uint8 and tuple(images.shape) == (4, 3, 8, 8)
    assert int(images[1, 0, 0, 0]) == 40 and int(images[3].min()) == int(images[3].max()) == 200


@pytest.mark.parametrize("side", [5_000, 20_000])  # past the sandbox's MAX_PIXELS, past twice Pillow's own bound
@pytest.mark.slow
def test_a_decompression_bomb_is_refused_without_the_grader_decoding_it(tmp_path, grader_never_opens_images, side):
    folder = save_faces(tmp_path / "samples", count=1)
    Image.new("1", (side, side)).save(folder / "0001.png")  # kilobytes on disk, side**2 pixels decoded
    with pytest.raises(ValueError, match=rf"0001.png: it is .*\({side * side} pixels\) exceeds limit of "
                                         rf"({MAX_PIXELS}|{2 * MAX_PIXELS}) pixels"):
        decode_images(folder)


@pytest.mark.parametrize("make, message", [
    pytest.param(lambda f: (f / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64)),
                 "0001.png: it is not a readable image", marks=pytest.mark.slow),  # each decoded in a sandbox
    pytest.param(lambda f: Image.new("RGB", (4, 4)).save(f / "0001.png"), "all images of a set must have one size",
                 marks=pytest.mark.slow),
    (lambda f: os.symlink("/etc/passwd", f / "0001.png"), "not a regular file"),
])
def test_unusable_files_are_named_with_what_to_fix(tmp_path, make, message):
    folder = save_faces(tmp_path / "samples", count=1)
    make(folder)
    with pytest.raises(ValueError, match=message):
        decode_images(folder)


def test_folders_without_images_say_so_before_any_sandbox_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(student_images, "_decode_staged", lambda *args: pytest.fail("a sandbox was started"))
    with pytest.raises(FileNotFoundError):
        decode_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        decode_images(tmp_path / "empty")


class _FakeSandbox:
    """What a sandbox whose worker was taken over (a decoder exploit) could send back."""

    def __init__(self, result):
        self.result = result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def call(self, *args, **kwargs):
        return self.result


@pytest.mark.parametrize("outputs, message", [
    ({"images": torch.zeros(2, 3, 8, 8, dtype=torch.uint8)}, "returned torch.uint8 of shape (2, 3, 8, 8)"),  # N wrong
    ({"images": torch.zeros(1, 3, 8, 8)}, "returned torch.float32"),
    ({"images": torch.zeros(1, 3, 8192, 8192, dtype=torch.uint8)}, "at most"),
    ({}, "returned nothing"),
    ({"bad_file": torch.tensor(10**6), "reason": torch.tensor([2**62])}, "an image: (an error whose message"),
])
def test_what_the_decoder_sends_back_is_checked_before_use(tmp_path, monkeypatch, outputs, message):
    import grader.sandbox

    monkeypatch.setattr(grader.sandbox, "open_sandbox",
                        lambda *args, **kwargs: _FakeSandbox(ProbeResult("decode_images", "ok", "", outputs)))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_images(save_faces(tmp_path / "samples", count=1))
    assert not list(tmp_path.glob("grade-images-*"))


def test_a_machine_that_cannot_decode_is_incomplete_not_the_students_fault(tmp_path, monkeypatch):
    import grader.sandbox
    from grader.generative.samples import score_samples
    from grader.rubric import load_rubric

    monkeypatch.setattr(grader.sandbox, "open_sandbox", lambda *args, **kwargs: _FakeSandbox(
        ProbeResult("decode_images", "incomplete", "the fork server was killed from outside")))
    dataset = load_rubric().metrics.dataset("digits")
    results = score_samples(save_faces(tmp_path / "samples", size=16), dataset, reference=None)
    assert results and all(r.incomplete and r.score == 0 for r in results)
    assert "killed from outside" in results[0].message


@pytest.mark.slow
def test_the_anagram_is_decoded_in_the_sandbox(tmp_path, grader_never_opens_images):
    package = tmp_path / "diffusion_hw"
    package.mkdir()
    Image.fromarray(np.full((4, 6, 3), (255, 0, 0), dtype=np.uint8)).save(package / "anagram.png")
    (package / "anagram_prompts.txt").write_text("red\ngreen\n")
    image, prompts = read_anagram(package)
    assert image.size == (6, 4) and image.getpixel((0, 0)) == (255, 0, 0) and prompts == ["red", "green"]
    Image.new("1", (20_000, 20_000)).save(package / "anagram.png")
    assert "is not a readable image" in read_anagram(package) and "pixels" in read_anagram(package)
