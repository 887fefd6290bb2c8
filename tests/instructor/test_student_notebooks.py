"""The student notebooks are valid nbformat notebooks, and the Colab one runs end to end at CPU size."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from grader.instructor.notebooks import PLATFORMS, ROOT_ENV, SMOKE_ENV, build_notebook, code_cells_as_script

SECTIONS = ("setup", "public-checks", "config", "train", "plots", "samples", "illusions", "submission")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_notebook_is_valid_and_walks_every_section(platform):
    notebook = build_notebook(platform)
    nbformat.validate(notebook)
    tags = [tag for cell in notebook.cells for tag in cell.metadata.get("tags", [])]
    assert tags == list(SECTIONS)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            compile(cell.source, f"{platform} cell", "exec")  # plain Python: no ! or % magics
    assert notebook.metadata.kernelspec.name == "python3"


def test_colab_and_kaggle_differ_only_in_set_up_and_metadata():
    colab, kaggle = build_notebook("colab"), build_notebook("kaggle")
    assert "/content/" in colab.cells[1].source and "/kaggle/" in kaggle.cells[1].source
    assert [c.source for c in colab.cells[2:]] == [c.source for c in kaggle.cells[2:]]
    assert "colab" in colab.metadata and "kaggle" in kaggle.metadata


def test_handout_notebooks_are_the_built_ones(handout_zip):
    with zipfile.ZipFile(handout_zip) as archive:
        for platform in PLATFORMS:
            shipped = nbformat.reads(archive.read(f"notebooks/run_in_{platform}.ipynb").decode(), as_version=4)
            nbformat.validate(shipped)
            assert [c.source for c in shipped.cells] == [c.source for c in build_notebook(platform).cells]


@pytest.mark.slow
def test_colab_notebook_runs_its_cpu_sized_path_with_the_solution(unpack):
    """Every code cell in order, as one script, in an unpacked handout whose TODOs are solved."""
    folder = unpack("notebook-run", with_solution=True)
    script = folder / "notebook_as_script.py"
    script.write_text(code_cells_as_script(build_notebook("colab")), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({SMOKE_ENV: "1", ROOT_ENV: str(folder), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"})
    done = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for figure in ("loss_curve.png", "forward_process.png", "denoising_progress.png", "samples_grid.png",
                   "illusions/anagrams.png"):
        assert (folder / "results" / figure).stat().st_size > 1000, figure
    assert len(list((folder / "submission" / "samples").glob("*.png"))) == 24
    assert (folder / "results" / "model-final.pt").is_file()
    names = zipfile.ZipFile(folder / "submission.zip").namelist()
    assert "diffusion_hw/gaussian_diffusion.py" in names and "samples/0023.png" in names
    assert "training" in done.stderr  # the tqdm progress bar
