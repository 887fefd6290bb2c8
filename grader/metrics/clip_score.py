"""The CLIP score of a submission's visual anagram (informational: worth no points, never downloads).

Part 2 asks students to show their anagram with the CLIP score of each reading: cos(image embedding,
text embedding) of the upright image with prompt 1 and of the image turned by 180 degrees with prompt 2.
The grader adds one line about it to every report:

    CLIP score: 0.3072 upright ('a painting of a spaceship'), 0.3235 turned by 180 degrees (...)

It needs CLIP weights on this machine (a transformers CLIP folder: config.json, the weights and the
tokenizer files) named by DIFFUSION_HW_CLIP, loaded with local_files_only=True; and the anagram in
the submission's package folder: diffusion_hw/anagram.png plus diffusion_hw/anagram_prompts.txt
(prompt 1 on the first line, prompt 2 on the second). Without either, the line says what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

ENV = "DIFFUSION_HW_CLIP"
IMAGE_FILE = "anagram.png"
PROMPTS_FILE = "anagram_prompts.txt"
NO_WEIGHTS = (
    "CLIP score: not computed — no CLIP weights found locally "
    f"(set {ENV}=<path to a local open_clip/transformers CLIP folder>)"
)


def clip_scores(model: Any, processor: Any, images: Sequence[Any], prompts: Sequence[str]) -> list[float]:
    """cos(CLIP image embedding of images[i], CLIP text embedding of prompts[i]) for each i."""
    with torch.no_grad():
        pixels = processor(images=list(images), return_tensors="pt")["pixel_values"]
        text = processor(text=list(prompts), return_tensors="pt", padding=True, truncation=True)
        image_features = model.get_image_features(pixel_values=pixels)
        text_features = model.get_text_features(input_ids=text["input_ids"], attention_mask=text.get("attention_mask"))
    image_features = torch.nn.functional.normalize(image_features.float(), dim=-1)
    text_features = torch.nn.functional.normalize(text_features.float(), dim=-1)
    return (image_features * text_features).sum(dim=-1).tolist()


def load_clip(path: str) -> tuple[Any, Any]:
    """transformers' CLIPModel and CLIPProcessor from the local folder `path`, offline."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(path, local_files_only=True).eval()
    return model, CLIPProcessor.from_pretrained(path, local_files_only=True)


def read_anagram(folder: Path) -> tuple[Any, list[str]] | str:
    """(the RGB image, [prompt 1, prompt 2]) from folder, or why they cannot be read.

    The image is the student's file: it is decoded in the sandbox (grader/generative/student_images.py,
    at most its MAX_PIXELS), and only its pixels come back to be made a PIL image here."""
    from PIL import Image

    from grader.generative.student_images import DecodingIncomplete, decode_images

    image_path, prompts_path = folder / IMAGE_FILE, folder / PROMPTS_FILE
    if not image_path.is_file() or not prompts_path.is_file():
        return (f"the submission has no diffusion_hw/{IMAGE_FILE} with diffusion_hw/{PROMPTS_FILE} "
                "(prompt 1, then prompt 2, one per line)")
    lines = prompts_path.read_text(encoding="utf-8", errors="replace").splitlines()
    prompts = [line.strip() for line in lines if line.strip()]
    if len(prompts) != 2:
        return f"{PROMPTS_FILE} must hold exactly 2 prompts, one per line (it has {len(prompts)})"
    try:
        pixels = decode_images(folder, [image_path])  # (1, 3, H, W) uint8
    except DecodingIncomplete as exc:
        return f"the grading machine could not decode {IMAGE_FILE} ({exc})"
    except (OSError, ValueError) as exc:
        return f"{IMAGE_FILE} is not a readable image ({' '.join(str(exc).split())[:300]})"
    return Image.fromarray(pixels[0].permute(1, 2, 0).numpy()), prompts


def clip_score_line(submission_root: Path, environ: Mapping[str, str] = os.environ, loader=load_clip) -> str:
    """The report's CLIP line for the submission in submission_root: scores, or why there are none."""
    path = environ.get(ENV, "").strip()
    if not path or not Path(path).is_dir():
        return NO_WEIGHTS
    anagram = read_anagram(Path(submission_root) / "diffusion_hw")
    if isinstance(anagram, str):
        return f"CLIP score: not computed — {anagram}"
    image, prompts = anagram
    try:
        model, processor = loader(path)
    except Exception as exc:  # not installed, not a CLIP folder, files missing: never a download
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return f"CLIP score: not computed — the CLIP folder {path} could not be loaded offline ({reason})"
    try:
        upright, turned = clip_scores(model, processor, [image, image.rotate(180)], prompts)
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return f"CLIP score: not computed — the CLIP model in {path} failed on the anagram ({reason})"
    return (f"CLIP score: {upright:.4f} upright ({prompts[0]!r}), {turned:.4f} turned by 180 degrees ({prompts[1]!r}) "
            f"[{ENV}={path}]")
