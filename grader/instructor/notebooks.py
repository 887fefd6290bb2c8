"""The student notebooks, built with nbformat: run_in_colab.ipynb and run_in_kaggle.ipynb.

Both walk the same path through this homework's package: set-up, the public
checks, training with progress bars, the plots (loss curve, forward process, denoising progress),
sampling and saving the 1,000 images to hand in, the illusion part, and the submission zip. They
differ only in the set-up cell (where the handout is unpacked from) and their metadata.

Every code cell is plain Python (no `!` or `%` magics), so the notebooks run in Jupyter, Colab and
Kaggle alike, and a test can run their cells in order as one script. `DIFFUSION_HW_SMOKE=1` makes
every size tiny (a short CPU run, for tests) and `DIFFUSION_HW_ROOT` points at an unpacked handout.

    python3 -m grader.instructor.notebooks OUT_DIR     # writes both notebooks into OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SMOKE_ENV = "DIFFUSION_HW_SMOKE"
ROOT_ENV = "DIFFUSION_HW_ROOT"
PLATFORMS = ("colab", "kaggle")
NUM_SUBMITTED_SAMPLES = 1000

_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}

_INTRO = """# Diffusion homework: train a DDPM, sample, and make illusions ({platform})

Run the cells from top to bottom. Before you train, implement the TODOs in `diffusion_hw/` (see the
handout's README.md) and make the public checks pass (section 2).

| section | what it does |
| --- | --- |
| 1. Set-up | unpacks the handout, installs its requirements, picks the GPU |
| 2. Public checks | grades your TODOs against the public checks (what Gradescope runs first) |
| 3. Training | trains a U-Net DDPM with a progress bar, saves checkpoints to `results/` |
| 4. Plots | the loss curve, the forward process and the denoising progress |
| 5. Samples | samples and saves the {n} images you hand in |
| 6. Illusions | the Part 2 anagrams on the built-in digits |
| 7. Submission | zips `diffusion_hw/` and the samples into `submission.zip` |
"""

_SETUP = {
    "colab": '''# 1. Set-up (Colab). Runtime > Change runtime type > T4 GPU first.
# Upload handout.zip to the Files panel (or to Google Drive, then set HANDOUT_ZIP below).
import os, shutil, subprocess, sys, zipfile
from pathlib import Path

SMOKE = os.environ.get("{smoke}") == "1"  # a tiny CPU run (the course's tests use it)
WORK = Path(os.environ.get("{root}", "/content/diffusion_hw_handout"))
HANDOUT_ZIP = Path("/content/handout.zip")  # e.g. Path("/content/drive/MyDrive/handout.zip")
# from google.colab import drive; drive.mount("/content/drive")  # to keep results across sessions

if not (WORK / "diffusion_hw").is_dir():
    if not HANDOUT_ZIP.is_file():
        raise FileNotFoundError(f"upload handout.zip to {{HANDOUT_ZIP}} (Files panel, left) and run this cell again")
    with zipfile.ZipFile(HANDOUT_ZIP) as archive:
        archive.extractall(WORK)
''',
    "kaggle": '''# 1. Set-up (Kaggle). Session options: Accelerator GPU (T4 or P100), Internet on.
# Add the handout as a dataset: Input > Upload > New dataset > handout.zip (Kaggle unpacks it).
import os, shutil, subprocess, sys, zipfile
from pathlib import Path

SMOKE = os.environ.get("{smoke}") == "1"  # a tiny CPU run (the course's tests use it)
WORK = Path(os.environ.get("{root}", "/kaggle/working/diffusion_hw_handout"))
KAGGLE_INPUT = Path("/kaggle/input")

if not (WORK / "diffusion_hw").is_dir():  # /kaggle/input is read-only: work on a copy you can edit
    # the handout's top folder (its grader/pristine_starter/ holds a second diffusion_hw/, never the one to edit)
    unpacked = sorted(p for p in KAGGLE_INPUT.glob("**/diffusion_hw/__init__.py")
                      if (p.parent.parent / "grader" / "__main__.py").is_file())
    zips = sorted(KAGGLE_INPUT.glob("**/handout.zip"))
    if unpacked:
        shutil.copytree(unpacked[0].parent.parent, WORK, dirs_exist_ok=True)
    elif zips:
        with zipfile.ZipFile(zips[0]) as archive:
            archive.extractall(WORK)
    else:
        raise FileNotFoundError("add handout.zip as a Kaggle dataset (Input > Upload) and run this cell again")
''',
}

_SETUP_COMMON = '''
os.chdir(WORK)
sys.path.insert(0, str(WORK))
if not SMOKE:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "requirements.txt"], check=True)

import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
RESULTS = WORK / "results"
SUBMISSION = WORK / "submission"
RESULTS.mkdir(exist_ok=True)
print(f"working in {WORK} on {DEVICE}"
      + (f" ({torch.cuda.get_device_name()})" if DEVICE == "cuda" else " (training will be slow)"))


def show(*paths):
    """Show PNGs inline in a notebook, or print their paths elsewhere."""
    try:
        from IPython.display import Image, display
    except ImportError:
        display = None
    for path in paths:
        print(path)
        if display is not None:
            display(Image(filename=str(path)))
'''

_CHECKS = '''# 2. Public checks: the same command as on your own machine. Fix what fails before training.
if SMOKE:
    print("public checks skipped in the smoke run")
else:
    subprocess.run([sys.executable, "-m", "grader", "diffusion_hw", "--public-only"], cwd=WORK, check=False)
'''

_CONFIG = '''# 3. Training. "digits" is built in (no download); for AFHQ cats or anime faces, upload the image
# folder and set "dataset" to its path (see the README's "Data" section).
CONFIG = dict(
    dataset="digits", image_size=32, channels=3,
    timesteps=1000, sampling_timesteps=None, beta_schedule="linear",  # sampling_timesteps=100: DDIM sampling
    objective="pred_noise", loss_type="l2",
    dim=64, dim_mults=(1, 2, 4), batch_size=64, lr=2e-4,
    train_steps=10_000, save_and_sample_every=1000, num_samples={n}, seed=0,
)
if SMOKE:
    CONFIG.update(image_size=8, timesteps=50, dim=8, dim_mults=(1, 2), batch_size=16, train_steps=3,
                  save_and_sample_every=None, num_samples=24)
CONFIG
'''

_TRAIN = '''for module in [name for name in sys.modules if name == "diffusion_hw" or name.startswith("diffusion_hw.")]:
    del sys.modules[module]  # so that the import below reads your latest edits, without restarting the runtime
from diffusion_hw_data import load_dataset
from diffusion_hw import GaussianDiffusion, Trainer, Unet

torch.manual_seed(CONFIG["seed"])
dataset_kwargs = {"channels": CONFIG["channels"]} if CONFIG["dataset"] == "digits" else {}
dataset = load_dataset(CONFIG["dataset"], CONFIG["image_size"], **dataset_kwargs)
unet = Unet(CONFIG["dim"], CONFIG["dim_mults"], channels=CONFIG["channels"])
diffusion = GaussianDiffusion(
    unet, image_size=CONFIG["image_size"], timesteps=CONFIG["timesteps"],
    sampling_timesteps=CONFIG["sampling_timesteps"], beta_schedule=CONFIG["beta_schedule"],
    objective=CONFIG["objective"], loss_type=CONFIG["loss_type"],
)
trainer = Trainer(
    diffusion, dataset, batch_size=CONFIG["batch_size"], train_num_steps=CONFIG["train_steps"],
    lr=CONFIG["lr"], save_and_sample_every=CONFIG["save_and_sample_every"], results_folder=RESULTS,
    keep_checkpoints=2, amp=DEVICE == "cuda", seed=CONFIG["seed"], device=DEVICE, progress=True,
)
# To resume after a disconnect: trainer.load("final") (or a milestone number), then train() again.
losses = trainer.train()
print("checkpoint:", trainer.save("final"))
'''

_PLOTS = '''# 4. Plots: the loss curve, the forward process q(x_t | x_0), and the reverse process.
from diffusion_hw import plot_denoising_progress, plot_forward_process, plot_loss_curve

model = trainer.ema.ema_model.eval()
first_images = torch.stack([dataset[i] for i in range(5)])  # (5, C, H, W) in [0, 1]
show(
    plot_loss_curve(losses, RESULTS / "loss_curve.png"),
    plot_forward_process(model, first_images.to(DEVICE), RESULTS / "forward_process.png"),
    plot_denoising_progress(model, RESULTS / "denoising_progress.png"),
)
'''

_SAMPLES = '''# 5. Samples: the images you hand in, one PNG each, in submission/samples/.
from torchvision.utils import save_image
from tqdm.auto import tqdm

samples_dir = SUBMISSION / "samples"
shutil.rmtree(samples_dir, ignore_errors=True)
samples_dir.mkdir(parents=True)
written = 0
with tqdm(total=CONFIG["num_samples"], desc="sampling") as bar:
    while written < CONFIG["num_samples"]:
        batch = trainer.sample(min(CONFIG["batch_size"], CONFIG["num_samples"] - written))  # (B, C, H, W) in [0, 1]
        for image in batch:
            save_image(image, samples_dir / f"{written:04d}.png")
            written += 1
        bar.update(len(batch))
save_image(batch[:64], RESULTS / "samples_grid.png", nrow=8)
show(RESULTS / "samples_grid.png")
print(f"{written} samples in {samples_dir}")
'''

_ILLUSIONS_MD = """## 6. Illusions (Part 2)

Your `IdentityView`, `Rotate180View`, `fused_noise_estimate` and `classifier_free_guidance` (TODO 3.x)
turn a class-conditional diffusion model into an anagram maker: one image that reads as digit *a*
upright and as digit *b* upside down. The cell trains a small conditional model on the built-in
digits (a few minutes on a GPU), makes anagrams, and scores each view with a digit classifier.
With DeepFloyd IF (GPU, gated weights) the same loop makes the text-prompted illusions: see
`diffusion_hw/deepfloyd.py`.
"""

_ILLUSIONS = '''from diffusion_hw.digit_illusions import DigitIllusionConfig, measure_digit_illusions

illusion_config = DigitIllusionConfig.quick() if SMOKE else DigitIllusionConfig(progress=True)
illusions = measure_digit_illusions(illusion_config, out=RESULTS / "illusions")
print("anagram accuracy per view:", illusions.anagram)
print("plain samples, for comparison:", illusions.baseline)
show(RESULTS / "illusions" / "anagrams.png")
'''

_SUBMIT = '''# 7. Submission: upload submission.zip to Gradescope (it holds diffusion_hw/ and samples/).
submission_zip = WORK / "submission.zip"
with zipfile.ZipFile(submission_zip, "w", zipfile.ZIP_DEFLATED) as archive:
    for path in sorted((WORK / "diffusion_hw").rglob("*.py")):
        archive.write(path, path.relative_to(WORK))
    for path in sorted(samples_dir.glob("*.png")):
        archive.write(path, path.relative_to(SUBMISSION))
print(f"{submission_zip}: {submission_zip.stat().st_size // 1024} kB; download it and upload it to Gradescope")
'''


def _code(source: str, *tags: str):
    cell = new_code_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def build_notebook(platform: str) -> nbformat.NotebookNode:
    """The student notebook for `platform` ("colab" or "kaggle")."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}: choose one of {', '.join(PLATFORMS)}")
    name = "Colab" if platform == "colab" else "Kaggle"
    cells = [
        new_markdown_cell(_INTRO.format(platform=name, n=NUM_SUBMITTED_SAMPLES)),
        _code(_SETUP[platform].format(smoke=SMOKE_ENV, root=ROOT_ENV) + _SETUP_COMMON, "setup"),
        new_markdown_cell("## 2. Public checks\n\n"
                          "Every public check should pass before you spend GPU time on training."),
        _code(_CHECKS, "public-checks"),
        new_markdown_cell(
            "## 3. Training\n\nThe defaults train for about an hour on a T4. Lower `train_steps` while you debug; "
            "checkpoints and sample grids go to `results/` every `save_and_sample_every` steps."
        ),
        _code(_CONFIG.format(n=NUM_SUBMITTED_SAMPLES), "config"),
        _code(_TRAIN, "train"),
        new_markdown_cell("## 4. Plots\n\nPut these three figures in your write-up."),
        _code(_PLOTS, "plots"),
        new_markdown_cell(f"## 5. Samples\n\nThe grader scores {NUM_SUBMITTED_SAMPLES} samples of your model (FID)."),
        _code(_SAMPLES, "samples"),
        new_markdown_cell(_ILLUSIONS_MD),
        _code(_ILLUSIONS, "illusions"),
        new_markdown_cell("## 7. Submission"),
        _code(_SUBMIT, "submission"),
    ]
    metadata = {"kernelspec": _KERNEL, "language_info": {"name": "python"}}
    if platform == "colab":
        metadata.update(accelerator="GPU", colab={"provenance": [], "gpuType": "T4"})
    else:
        metadata.update(kaggle={"accelerator": "gpu", "isInternetEnabled": True, "isGpuEnabled": True})
    notebook = new_notebook(cells=cells, metadata=metadata)
    nbformat.validate(notebook)
    return notebook


def write_notebooks(folder: Path) -> list[Path]:
    """Write run_in_colab.ipynb and run_in_kaggle.ipynb into `folder`; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for platform in PLATFORMS:
        path = folder / f"run_in_{platform}.ipynb"
        nbformat.write(build_notebook(platform), str(path))
        written.append(path)
    return written


def code_cells_as_script(notebook: nbformat.NotebookNode) -> str:
    """The notebook's code cells in order, as one Python script (how the tests run a notebook)."""
    return "\n\n".join(
        f"# ---- cell {i}\n{cell.source}" for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
    )


if __name__ == "__main__":
    for written_path in write_notebooks(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(written_path)
