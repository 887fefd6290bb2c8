"""The starter is the solution with every TODO body stubbed, and nothing else changed; each assignment profile's
starter stubs that profile's items and gives every other solution block."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.instructor.starter import (
    BEGIN,
    StarterError,
    generate_starter,
    out_of_sync_files,
    profile_items,
    public_api,
    starter_folder,
    strip_solutions,
    stub_number,
)
from grader.intake.submission import find_package
from grader.rubric import DEFAULT_PROFILE, load_profile, profile_names

ROOT = Path(__file__).resolve().parents[2]
SOLUTION, STARTER = ROOT / "solution", ROOT / "starter"
EXPECTED_TODOS = {
    "linear_beta_schedule", "cosine_beta_schedule", "sigmoid_beta_schedule",
    "compute_diffusion_buffers", "q_sample", "p_losses", "p_sample", "p_sample_loop",
    "denoise_backward", "IdentityView.view", "IdentityView.inverse_view", "Rotate180View.view",
    "Rotate180View.inverse_view", "fused_noise_estimate", "classifier_free_guidance",
}


def test_committed_starter_is_in_sync_with_the_solution():
    diffs = out_of_sync_files(SOLUTION, STARTER)
    assert diffs == [], f"starter/ is out of sync ({diffs}): run `python3 tasks.py starter`"


def test_starter_exposes_exactly_the_solutions_public_api():
    assert public_api(STARTER / "diffusion_hw") == public_api(SOLUTION / "diffusion_hw")


def test_solution_marks_every_expected_todo(tmp_path):
    todos = generate_starter(SOLUTION, tmp_path / "starter")
    assert EXPECTED_TODOS <= {t.name for t in todos}
    assert len({t.number for t in todos}) == len(todos), "two TODOs share a number"


def test_starter_imports_and_every_todo_raises_not_implemented_naming_it():
    # a child process, so that the starter's diffusion_hw never meets the solution's in sys.modules
    probe = textwrap.dedent(
        """
        import json, sys, torch
        sys.path.insert(0, sys.argv[1])
        import diffusion_hw as hw
        class Zero(torch.nn.Module):
            channels = 1
            def forward(self, x, t, class_labels=None):
                return torch.zeros_like(x)
        betas = torch.full((10,), 0.01, dtype=torch.float64)
        x = torch.zeros(2, 1, 4, 4)
        t = torch.zeros(2, dtype=torch.long)
        calls = {
            "linear_beta_schedule": lambda: hw.linear_beta_schedule(10),
            "cosine_beta_schedule": lambda: hw.cosine_beta_schedule(10),
            "sigmoid_beta_schedule": lambda: hw.sigmoid_beta_schedule(10),
            "compute_diffusion_buffers": lambda: hw.compute_diffusion_buffers(betas),
            "IdentityView.view": lambda: hw.IdentityView().view(x),
            "IdentityView.inverse_view": lambda: hw.IdentityView().inverse_view(x),
            "Rotate180View.view": lambda: hw.Rotate180View().view(x),
            "Rotate180View.inverse_view": lambda: hw.Rotate180View().inverse_view(x),
            "fused_noise_estimate": lambda: hw.fused_noise_estimate(
                lambda x, t, c: x, [hw.IdentityView()], [None], x, 0),
            "classifier_free_guidance": lambda: hw.classifier_free_guidance(x, x, 7.5, 1),
        }
        try:
            hw.GaussianDiffusion(Zero(), image_size=4, timesteps=50)
            messages = {"GaussianDiffusion": "constructed"}
        except NotImplementedError as e:
            messages = {"GaussianDiffusion": str(e)}
        for name, call in calls.items():
            try:
                call()
                messages[name] = "returned"
            except NotImplementedError as e:
                messages[name] = str(e)
        print(json.dumps(messages))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(STARTER)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    messages = json.loads(out.stdout.strip().splitlines()[-1])
    # the diffusion object needs the buffers, so constructing it already reaches TODO 1.x
    assert "TODO" in messages.pop("GaussianDiffusion")
    for name, message in messages.items():
        assert name in message and "TODO" in message, (name, message)


def test_starter_methods_raise_not_implemented_naming_the_todo():
    source = (STARTER / "diffusion_hw" / "gaussian_diffusion.py").read_text()
    for name in ("q_sample", "p_losses", "p_sample", "p_sample_loop", "denoise_backward"):
        assert f" {name}: not implemented yet (see its docstring)\")" in source, name
    assert "BEGIN SOLUTION" not in source and "END SOLUTION" not in source


@pytest.mark.parametrize(
    "source, complaint",
    [
        ("def f():\n    # BEGIN SOLUTION (TODO 1.1 f)\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    # END SOLUTION\n", "without a matching BEGIN"),
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", "malformed marker"),
        (
            "def f():\n    # BEGIN SOLUTION (TODO 1 f)\n    # BEGIN SOLUTION (TODO 2 g)\n",
            "inside the block",
        ),
    ],
)
def test_malformed_markers_are_reported_with_their_line(source, complaint):
    with pytest.raises(StarterError, match=complaint):
        strip_solutions(source, Path("x.py"))


def test_stub_keeps_the_blocks_indentation():
    text, todos = strip_solutions(
        "class A:\n    def f(self):\n        # BEGIN SOLUTION (TODO 3.1 f)\n        return 1\n        # END SOLUTION\n",
        Path("a.py"),
    )
    assert "        raise NotImplementedError(\"TODO 3.1 f:" in text
    assert [(t.number, t.name, t.line) for t in todos] == [("3.1", "f", 3)]


def test_a_hand_edit_of_the_starter_is_detected(tmp_path):
    starter = tmp_path / "starter"
    generate_starter(SOLUTION, starter)
    (starter / "diffusion_hw" / "helpers.py").write_text("# edited by hand\n")
    assert out_of_sync_files(SOLUTION, starter) == ["differs: diffusion_hw/helpers.py"]


# ---------------------------------------------------------------- one starter per assignment profile

PROFILES = profile_names()


@pytest.mark.parametrize("assignment", PROFILES)
def test_every_profiles_committed_starter_is_in_sync_with_the_solution(assignment):
    rubric = load_profile(assignment)
    diffs = out_of_sync_files(SOLUTION, starter_folder(assignment), rubric)
    where = starter_folder(assignment).relative_to(ROOT)
    assert diffs == [], f"{where}/ is out of sync ({diffs}): run `python3 tasks.py starter`"


@pytest.mark.parametrize("assignment", PROFILES)
def test_every_profiles_starter_exposes_exactly_the_solutions_public_api(assignment):
    assert public_api(starter_folder(assignment) / "diffusion_hw") == public_api(SOLUTION / "diffusion_hw")


@pytest.mark.parametrize("assignment", PROFILES)
def test_a_profiles_starter_stubs_its_items_and_gives_every_other_block(assignment):
    items = profile_items(load_profile(assignment))
    package = starter_folder(assignment) / "diffusion_hw"
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(package.glob("*.py")))
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    stubbed = dict(re.findall(r'raise NotImplementedError\("TODO ([\d.]+) ([\w.]+): not implemented yet', text))
    blocks = {m["name"]: m["number"] for p in (SOLUTION / "diffusion_hw").glob("*.py")
              for m in map(BEGIN.match, p.read_text(encoding="utf-8").splitlines()) if m}
    expected = {stub_number(number, name, items): name for name, number in blocks.items()
                if stub_number(number, name, items) is not None}
    assert stubbed == expected


def test_the_profile_starters_live_inside_starter_and_grading_starter_still_finds_the_default():
    assert starter_folder(None) == STARTER and starter_folder(DEFAULT_PROFILE) == STARTER
    others = [name for name in PROFILES if name != DEFAULT_PROFILE]
    assert others, "no profile besides the default"
    for name in others:
        assert starter_folder(name) == STARTER / name
        assert (STARTER / name / "diffusion_hw" / "__init__.py").is_file()
    assert find_package(STARTER) == STARTER  # not "4 diffusion_hw packages": the default's own comes first


def test_a_given_block_keeps_its_body_and_a_members_stub_takes_the_items_number():
    source = ("class V:\n    def view(self):\n        # BEGIN SOLUTION (TODO 3.1.2 V.view)\n        return 1\n"
              "        # END SOLUTION\n\ndef g():\n"
              "    # BEGIN SOLUTION (TODO 1.1 g)\n    return 2\n    # END SOLUTION\n")
    text, todos = strip_solutions(source, Path("a.py"), {"V": "2.4"})
    assert [(t.number, t.name) for t in todos] == [("2.4.2", "V.view")]
    assert 'raise NotImplementedError("TODO 2.4.2 V.view:' in text
    assert "    return 2\n" in text and "BEGIN" not in text and "END" not in text
    ast.parse(text)


def test_a_profile_item_without_a_solution_block_is_refused(tmp_path):
    solution = tmp_path / "solution" / "diffusion_hw"
    solution.mkdir(parents=True)
    (solution / "__init__.py").write_text(
        "def f():\n    # BEGIN SOLUTION (TODO 1.1 f)\n    return 1\n    # END SOLUTION\n")
    rubric = load_profile()  # its items name functions this tiny solution does not mark
    with pytest.raises(StarterError, match="have no '# BEGIN SOLUTION"):
        generate_starter(tmp_path / "solution", tmp_path / "starter", rubric)
    assert not (tmp_path / "starter").exists()


def test_regenerating_the_default_starter_keeps_the_other_profiles_folders(tmp_path):
    starter = tmp_path / "starter"
    (starter / "cosine-cats" / "diffusion_hw").mkdir(parents=True)
    (starter / "cosine-cats" / "diffusion_hw" / "__init__.py").write_text("# the other profile\n")
    (starter / "stale.txt").parent.mkdir(parents=True, exist_ok=True)
    (starter / "stale.txt").write_text("left from an old solution\n")
    generate_starter(SOLUTION, starter, keep=["cosine-cats"])
    assert (starter / "cosine-cats" / "diffusion_hw" / "__init__.py").read_text() == "# the other profile\n"
    assert not (starter / "stale.txt").exists()
    assert (starter / "diffusion_hw" / "schedules.py").is_file()


def test_a_hand_edit_of_a_profiles_starter_is_detected(tmp_path):
    rubric = load_profile("cosine-cats")
    starter = tmp_path / "cosine-cats"
    generate_starter(SOLUTION, starter, rubric)
    assert out_of_sync_files(SOLUTION, starter, rubric) == []
    (starter / "diffusion_hw" / "schedules.py").write_text("# edited by hand\n")
    assert out_of_sync_files(SOLUTION, starter, rubric) == ["differs: diffusion_hw/schedules.py"]
    # the default profile's tree differs from this one: comparing against the wrong profile is caught too
    assert out_of_sync_files(SOLUTION, starter, load_profile(), ignore=()) != []
