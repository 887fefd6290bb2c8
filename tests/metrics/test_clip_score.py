"""The report's CLIP score line: a plain "not computed" without local weights, scores with them, no download."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from grader.metrics.clip_score import ENV, NO_WEIGHTS, clip_score_line, clip_scores


class TopLeftClip:
    """A stand-in CLIPModel: an image's embedding is its top-left pixel (R, G, B); a prompt's is fixed per word."""

    WORDS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "mostly red": (1.0, 0.2, 0.0)}

    def get_image_features(self, pixel_values):
        return pixel_values[:, :, 0, 0]

    def get_text_features(self, input_ids, attention_mask=None):
        return input_ids.float()


class StubProcessor:
    def __call__(self, images=None, text=None, return_tensors="pt", **kwargs):
        if images is not None:
            pixels = [torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32)).permute(2, 0, 1)
                      for im in images]
            return {"pixel_values": torch.stack(pixels)}
        return {"input_ids": torch.tensor([TopLeftClip.WORDS[t] for t in text]), "attention_mask": None}


def _stub_clip(path):
    """A loader for clip_score_line that loads nothing: the stub model and processor above."""
    return TopLeftClip(), StubProcessor()


def write_anagram(root: Path, prompts: str = "red\ngreen\n") -> Path:
    package = root / "diffusion_hw"
    package.mkdir(parents=True)
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    image.paste((0, 255, 0), (0, 2, 4, 4))  # bottom half green: turned by 180 degrees, the top is green
    image.save(package / "anagram.png")
    (package / "anagram_prompts.txt").write_text(prompts)
    return root


def test_without_weights_the_line_says_how_to_provide_them(tmp_path):
    write_anagram(tmp_path)
    assert clip_score_line(tmp_path, environ={}) == NO_WEIGHTS
    assert clip_score_line(tmp_path, environ={ENV: str(tmp_path / "missing")}) == NO_WEIGHTS
    assert NO_WEIGHTS.startswith("CLIP score: not computed — no CLIP weights found locally (set DIFFUSION_HW_CLIP=")


def test_weights_that_cannot_be_loaded_offline_are_reported_not_downloaded(tmp_path):
    write_anagram(tmp_path / "sub")

    def offline_loader(path):
        raise OSError(f"{path} does not appear to have a file named config.json (local_files_only=True)")

    line = clip_score_line(tmp_path / "sub", environ={ENV: str(tmp_path)}, loader=offline_loader)
    assert line.startswith("CLIP score: not computed — the CLIP folder") and "could not be loaded offline" in line


def test_a_submission_without_an_anagram_says_what_to_hand_in(tmp_path):
    (tmp_path / "sub" / "diffusion_hw").mkdir(parents=True)
    line = clip_score_line(tmp_path / "sub", environ={ENV: str(tmp_path)}, loader=_stub_clip)
    assert "no diffusion_hw/anagram.png" in line
    write_anagram(tmp_path / "other", prompts="red\n")
    line = clip_score_line(tmp_path / "other", environ={ENV: str(tmp_path)}, loader=_stub_clip)
    assert "exactly 2 prompts" in line


@pytest.mark.slow
def test_the_score_is_the_cosine_of_each_view_with_its_prompt(tmp_path):
    write_anagram(tmp_path / "sub")
    line = clip_score_line(tmp_path / "sub", environ={ENV: str(tmp_path)}, loader=_stub_clip)
    # the top half is red, the bottom half green: upright the top-left pixel is red, turned it is green
    assert line.startswith("CLIP score: 1.0000 upright ('red'), 1.0000 turned by 180 degrees ('green')"), line
    (tmp_path / "sub" / "diffusion_hw" / "anagram_prompts.txt").write_text("green\nred\n")
    line = clip_score_line(tmp_path / "sub", environ={ENV: str(tmp_path)}, loader=_stub_clip)
    assert line.startswith("CLIP score: 0.0000 upright ('green'), 0.0000 turned by 180 degrees ('red')"), line
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    scores = clip_scores(TopLeftClip(), StubProcessor(), [red, red], ["red", "mostly red"])
    assert math.isclose(scores[0], 1.0, rel_tol=1e-6)
    assert math.isclose(scores[1], 1 / math.sqrt(1.04), rel_tol=1e-6)
