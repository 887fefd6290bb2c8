"""The named datasets: what each one is, how its folder is laid out, and where a course gets it.

A name stands for the folder DATA_ROOT/NAME (data/root.py chooses DATA_ROOT). The catalogue never
downloads anything: it is what a missing-dataset message tells the person to fetch and where to put it.
A name that is not in the catalogue still works (DATA_ROOT/NAME, any folder of images); its
message is only less specific.

    digits            built in (scikit-learn's 8 x 8 digits): no folder, no data root
    anime-faces-64    2,000 anime face crops, 64 x 64 RGB, flat folder 0000.png ... 1999.png
    afhq-cats-32      AFHQ's cat faces, 32 x 32 RGB, flat folder

Add a dataset by adding a DatasetCard below; its `name` is the folder name under the data root.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetCard:
    """What a named dataset's folder must hold, in words a missing-dataset message can use."""

    name: str  # the folder's name under the data root
    images: str  # what to put there, with its count and size: "2,000 64x64 RGB anime faces (PNG or JPG)"
    layout: str  # how the folder is laid out: "a flat folder: 0000.png ... 1999.png"
    source: str  # where courses get it (never downloaded by the harness)
    image_size: int | None = None  # the side the files already have, when the grader reads them unresized


CATALOGUE: dict[str, DatasetCard] = {card.name: card for card in (
    DatasetCard(
        name="anime-faces-64",
        images="2,000 64x64 RGB anime faces (PNG or JPG)",
        layout="a flat folder, no subfolders: 0000.png ... 1999.png",
        source=("the 96x96 crops faces/0.jpg ... faces/1999.jpg of the public GitHub repository "
                "antoncoding/Deep_Learning_GAN, resized to 64x64 with Lanczos"),
        image_size=64,
    ),
    DatasetCard(
        name="afhq-cats-32",
        images="about 5,000 32x32 RGB cat faces (PNG or JPG)",
        layout="a flat folder, no subfolders, one face per file",
        source=("the train/cat/ folder of Animal Faces-HQ (AFHQ, from the StarGAN v2 repository "
                "clovaai/stargan-v2), resized to 32x32 with Lanczos (the cats homework posts a subset as "
                "data.zip beside its writeup)"),
        image_size=32,
    ),
)}
