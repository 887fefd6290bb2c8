"""Assignment profiles: one rubric per homework, chosen by name (grader/rubric.py, grader/assignments/).

Each profile loads and adds up in whole points, names only functions the solution marks as TODOs, and
grades the solution to full marks and its own generated starter to 0 on every item (the slow test is
what `python3 tasks.py demo --assignment NAME` shows). `grade assignments` lists them; `--assignment`
picks one for `grade`, `grade batch`, the starter, the handout and the Gradescope zip.
"""

from __future__ import annotations

import re
import shutil
import tomllib
import zipfile
from pathlib import Path

import pytest

from grader.cli import main
from grader.errors import GraderError
from grader.instructor.starter import BEGIN, profile_items, starter_folder
from grader.output.results import item_scores_from_results
from grader.rubric import (
    ASSIGNMENTS_DIR,
    BETA_SCHEDULES,
    DEFAULT_PROFILE,
    DEFAULT_RUBRIC,
    LOSS_TYPES,
    OBJECTIVES,
    load_profile,
    load_rubric,
    profile_names,
    profile_path,
)
from tests.support.grading import run_grade

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_PACKAGE = ROOT / "solution" / "diffusion_hw"
PROFILES = profile_names()
MODELLED = {"cosine-cats", "image-fusion", "conditional-digits", "image-editing"}  # besides the default


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse
        return int(exc.code)


def solution_blocks() -> set[str]:
    """The names of the solution's TODO blocks (q_sample, IdentityView.view, ...)."""
    return {m["name"] for p in SOLUTION_PACKAGE.glob("*.py")
            for m in map(BEGIN.match, p.read_text(encoding="utf-8").splitlines()) if m}


# ---------------------------------------------------------------- the profiles themselves


def test_grade_assignments_lists_every_profile_one_name_per_line_the_default_first(capsys):
    assert run_main(["assignments"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == PROFILES and lines[0] == DEFAULT_PROFILE == "illusions"
    assert set(lines[1:]) == {p.stem for p in ASSIGNMENTS_DIR.glob("*.toml")} and MODELLED <= set(lines)
    assert lines[1:] == sorted(lines[1:])


def test_the_default_profile_is_grader_rubric_toml():
    assert profile_path(None) == profile_path(DEFAULT_PROFILE) == DEFAULT_RUBRIC
    rubric = load_profile()
    assert rubric.name == DEFAULT_PROFILE and rubric.total == 130 and rubric.path == DEFAULT_RUBRIC


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads_and_its_whole_points_add_up_to_its_total(name):
    rubric = load_profile(name)
    assert rubric.name == name and rubric.assignment is not None
    for check in rubric.checks():
        assert check.points == int(check.points), f"{check.id}: points are whole numbers"
    assert sum(item.points for item in rubric.items) == rubric.total == int(rubric.total)
    assert all(any(c.public for c in item.checks) for item in rubric.items), "every item has a public check"
    assert all(item.points > 0 for item in rubric.items)


@pytest.mark.parametrize("name", PROFILES)
def test_every_profiles_items_are_todo_blocks_of_the_solution(name):
    blocks = solution_blocks()
    for function in profile_items(load_profile(name)):
        assert function in blocks or any(b.startswith(function + ".") for b in blocks), function


@pytest.mark.parametrize("name", PROFILES)
def test_every_profiles_assignment_table_names_its_data_and_says_nothing_of_where_it_came_from(name):
    assignment = load_profile(name).assignment
    assert assignment.title.strip() and assignment.description.strip()
    assert assignment.image_size > 0 and assignment.channels in (1, 3) and assignment.timesteps > 0
    text = f"{assignment.title} {assignment.description}"
    assert not re.search(r"\bseed ?\d{3}\b|\b(?:CS|CSE|EECS) ?\d{2,3}\b|\b(?:NYCU|SJTU|CMU|NTU|Berkeley)\b", text)
    metrics = load_profile(name).metrics
    if metrics is not None and assignment.dataset in metrics.datasets:
        assert metrics.datasets[assignment.dataset].image_size == assignment.image_size


def test_the_profiles_cover_what_their_homeworks_ask_for():
    def functions(name: str) -> set[str]:
        return set(profile_items(load_profile(name)))

    cats = load_profile("cosine-cats").assignment
    assert {"cosine_beta_schedule", "q_sample", "p_losses", "p_sample", "p_sample_loop"} <= functions("cosine-cats")
    assert (cats.beta_schedule, cats.loss_type, cats.image_size) == ("cosine", "l1", 32)
    assert {"q_sample", "p_losses", "p_sample", "p_sample_loop"} <= functions("image-fusion")
    assert {"classifier_free_guidance", "denoise_backward", "p_sample_loop"} <= functions("conditional-digits")
    assert {"q_sample", "classifier_free_guidance", "fused_noise_estimate", "Rotate180View"} <= functions(
        "image-editing")
    for name in ("cosine-cats", "image-fusion", "conditional-digits"):
        assert load_profile(name).metrics is not None, f"{name} scores samples"


def test_the_assignment_vocabulary_is_the_solutions():
    from diffusion_hw import gaussian_diffusion, schedules

    assert tuple(BETA_SCHEDULES) == tuple(schedules.BETA_SCHEDULES)
    assert set(OBJECTIVES) == set(gaussian_diffusion.OBJECTIVES)
    assert set(LOSS_TYPES) == set(gaussian_diffusion.LOSS_TYPES)


# ---------------------------------------------------------------- mistakes in a profile


def copy_profile(tmp_path: Path, name: str = "cosine-cats") -> tuple[Path, str]:
    """A copy of a profile in a folder named like grader/assignments/ (so its file names it)."""
    folder = tmp_path / ASSIGNMENTS_DIR.name
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    return path, (ASSIGNMENTS_DIR / f"{name}.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('beta_schedule = "cosine"', 'beta_schedule = "cosin"'),
         r"\[assignment\] beta_schedule: must be one of linear, cosine, sigmoid"),
        (lambda t: t.replace('loss_type = "l1"', 'loss_type = "l3"'), r"\[assignment\] loss_type: must be one"),
        (lambda t: t.replace("image_size = 32\nchannels", "image_size = 32.5\nchannels"),
         r"\[assignment\] image_size: must be a positive whole number"),
        (lambda t: re.sub(r'^title = .*\n', "", t, count=1, flags=re.M), r"\[assignment\]: missing key\(s\) title"),
        (lambda t: t.replace("[assignment]\n", '[assignment]\ncolour = "blue"\n'), r"unknown key\(s\) colour"),
        (lambda t: t.replace("[assignment]\n", '[assignment]\nname = "dogs"\n'),
         r"\[assignment\] name: is 'dogs' but the file is cosine-cats.toml"),
        (lambda t: t.replace('number = "2.1"', 'number = "B"'), r"write item numbers as"),
        (lambda t: reuse(t, "q_sample", "dogs"), r"item 1.3 \(q_sample\) checks_as: must name a profile \(illusions, "),
        (lambda t: reuse(t, "q_sample", "image-fusion"),
         r"checks_as: the profile 'image-fusion' does not list q_sample's checks itself: name the profile that does"),
        (lambda t: reuse(t, "cosine_beta_schedule", "image-fusion"),
         r"checks_as: the profile 'image-fusion' has no item for cosine_beta_schedule"),
        (lambda t: t.replace('function = "q_sample"\n', 'function = "q_sample"\nchecks_as = "illusions"\n'),
         r"item 1.3 \(q_sample\): give the item its \[\[item.check\]\]s, or checks_as = .* one of the two"),
        (lambda t: re.sub(r'  \[\[item.check\]\]\n  check = "single_step_T_1"\n  points = 1\n  visibility = "hidden"\n',
                          "", t).replace("total = 60", "total = 59"),
         r"compute_diffusion_buffers.single_step_T_1 are implemented but not in the rubric"),
    ],
)
def test_profile_mistakes_are_reported_in_one_line(tmp_path, edit, message):
    path, text = copy_profile(tmp_path)
    edited = edit(text)
    assert edited != text, "the edit must change the profile"
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(GraderError, match=message) as caught:
        load_rubric(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))


def reuse(text: str, function: str, profile: str) -> str:
    """`text` with the [[item.check]]s of `function`'s item replaced by checks_as = "profile"."""
    return re.sub(rf'(function = "{function}"\n)(?:  .*\n)+', rf'\1checks_as = "{profile}"\n', text, count=1)


@pytest.mark.parametrize("name", [n for n in PROFILES if n != DEFAULT_PROFILE])
def test_an_item_reusing_checks_has_exactly_the_named_profiles_and_the_written_out_file_loads_alone(name, tmp_path):
    """checks_as = "illusions" gives the item the default's checks, points and visibilities of that function,
    and resolved_rubric_text (what the Gradescope zip holds) spells them out in a file that needs no other
    profile."""
    from grader.rubric import resolved_rubric_text

    raw_items = tomllib.loads(profile_path(name).read_text(encoding="utf-8"))["item"]
    default = {item.function: item for item in load_profile(None).items}
    rubric = load_profile(name)
    for raw, item in zip(raw_items, rubric.items):
        if raw.get("checks_as") == DEFAULT_PROFILE:
            got = [(c.id, c.points, c.public) for c in item.checks]
            assert got == [(c.id, c.points, c.public) for c in default[item.function].checks], item.function
    text = resolved_rubric_text(profile_path(name))
    assert "checks_as" not in text
    alone = tmp_path / "rubric.toml"
    alone.write_text(text, encoding="utf-8")
    signature = [(c.id, c.points, c.public, c.item_number) for c in rubric.checks()]
    assert [(c.id, c.points, c.public, c.item_number) for c in load_rubric(alone).checks()] == signature


def test_the_modelled_profiles_reuse_the_defaults_checks_where_they_grade_a_function_alike():
    reusing = {name: [i["function"] for i in tomllib.loads(profile_path(name).read_text(encoding="utf-8"))["item"]
                      if "checks_as" in i] for name in MODELLED}
    assert reusing["image-editing"] == ["q_sample", "p_sample", "denoise_backward", "IdentityView", "Rotate180View",
                                        "fused_noise_estimate"]
    assert reusing["cosine-cats"] == []  # every item of the cats' homework has points of its own


def test_a_profile_may_leave_a_function_out_and_then_none_of_its_checks_run(tmp_path):
    path, text = copy_profile(tmp_path)
    loop = text.index('[[item]]\nnumber = "3.2"')
    without_loop = text[:loop] + text[text.index("# ------", loop):]
    path.write_text(without_loop.replace("total = 60", "total = 48"), encoding="utf-8")
    rubric = load_rubric(path)
    assert rubric.total == 48 and "p_sample_loop" not in profile_items(rubric)
    assert not [c for c in rubric.checks() if c.function == "p_sample_loop"]


def test_an_unknown_profile_is_a_one_line_error_naming_the_profiles(capsys):
    with pytest.raises(GraderError, match="no assignment profile 'dogs': the profiles are illusions, "):
        profile_path("dogs")
    with pytest.raises(GraderError, match="no assignment profile"):
        profile_path("../rubric")  # a name, never a path
    assert run_main(["solution", "--assignment", "dogs"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "grade assignments" in err and "cosine-cats" in err


def test_rubric_and_assignment_together_are_refused(capsys):
    assert run_main(["solution", "--assignment", "cosine-cats", "--rubric", str(DEFAULT_RUBRIC)]) == 2
    assert "--rubric and --assignment both choose the rubric" in capsys.readouterr().err


# ---------------------------------------------------------------- the profile through the tools


def test_grade_batch_assignment_takes_a_profile_and_other_text_stays_the_canvas_column(tmp_path, monkeypatch):
    import grader.instructor.batch as batch

    calls = []
    monkeypatch.setattr(batch, "grade_batch", lambda *a, **kw: calls.append(kw) or [])
    out = tmp_path / "out"
    assert run_main(["batch", str(tmp_path), "--out", str(out), "--assignment", "cosine-cats"]) == 0
    assert run_main(["batch", str(tmp_path), "--out", str(out), "--assignment", "Homework 3 (12345)"]) == 0
    assert run_main(["batch", str(tmp_path), "--out", str(out), "--assignment", "image-fusion",
                     "--canvas-assignment", "Diffusion (77)"]) == 0
    assert [(c["rubric_path"], c["assignment"]) for c in calls] == [
        (profile_path("cosine-cats"), batch.DEFAULT_ASSIGNMENT),
        (DEFAULT_RUBRIC, "Homework 3 (12345)"),
        (profile_path("image-fusion"), "Diffusion (77)"),
    ]


def test_a_notebook_graded_under_a_profile_is_completed_from_that_profiles_starter(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from grader.api import profile_starter
    from grader.intake.submission import open_submission

    cats = load_profile("cosine-cats")
    assert profile_starter(cats) == starter_folder("cosine-cats") and profile_starter(load_profile()) is None
    notebook = tmp_path / "homework.ipynb"
    views = (SOLUTION_PACKAGE / "views.py").read_text(encoding="utf-8")
    nbformat.write(new_notebook(cells=[new_code_cell("%%writefile diffusion_hw/views.py\n" + views)]), str(notebook))
    with open_submission(notebook, starter=profile_starter(cats)) as opened:
        schedules = (opened.root / "diffusion_hw" / "schedules.py").read_text(encoding="utf-8")
    # cosine-cats gives linear_beta_schedule and stubs cosine_beta_schedule as its TODO 1.1
    assert 'raise NotImplementedError("TODO 1.1 cosine_beta_schedule' in schedules
    assert "linear_beta_schedule: not implemented" not in schedules
    with open_submission(notebook) as opened:  # the default profile's starter
        assert "TODO 1.1 linear_beta_schedule" in (opened.root / "diffusion_hw" / "schedules.py").read_text()


def test_a_profile_making_a_hidden_check_public_gets_its_public_plan_from_the_solution(tmp_path):
    from grader.api import prepare_plans

    path, text = copy_profile(tmp_path)
    flipped = text.replace('check = "clips_the_tail_at_0_999"\n  points = 2\n  visibility = "hidden"',
                           'check = "clips_the_tail_at_0_999"\n  points = 2\n  visibility = "public"')
    assert flipped != text
    path.write_text(flipped, encoding="utf-8")
    rubric = load_rubric(path)
    plans = prepare_plans(rubric, public_only=True)
    assert "cosine_beta_schedule.clips_the_tail_at_0_999" in plans


def test_the_gradescope_zip_of_a_profile_grades_that_profile_with_its_starter(tmp_path):
    from grader.instructor.gradescope import build_gradescope_zip

    archive = build_gradescope_zip(tmp_path / "gradescope.zip", assignment="cosine-cats")
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        rubric_text = zf.read("grader/rubric.toml").decode()
        schedules = zf.read("starter/diffusion_hw/schedules.py").decode()
    assert not [n for n in names if n.startswith("grader/assignments/")]
    assert tomllib.loads(rubric_text)["assignment"]["name"] == "cosine-cats"
    (tmp_path / "rubric.toml").write_text(rubric_text, encoding="utf-8")
    assert load_rubric(tmp_path / "rubric.toml").total == load_profile("cosine-cats").total
    assert 'raise NotImplementedError("TODO 1.1 cosine_beta_schedule' in schedules
    assert "TODO 1.1 linear_beta_schedule" not in schedules
    assert (starter_folder("cosine-cats") / "diffusion_hw" / "schedules.py").read_text() == schedules


@pytest.mark.slow
@pytest.mark.parametrize("name", PROFILES)
def test_the_solution_earns_full_marks_and_the_profiles_starter_0_on_every_item(tmp_path, name):
    """What `python3 tasks.py demo --assignment NAME` shows: its title lines, full marks, and 0 per item."""
    rubric = load_profile(name)
    total = f"{rubric.total:g}"
    solved = run_grade("solution", "--assignment", name, "--out", str(tmp_path / "solution"))
    assert solved.returncode == 0, solved.stderr
    assert f"solution: {total} / {total}" in solved.stdout
    assert solved.results["score"] == rubric.total
    assert all(t["status"] == "passed" for t in solved.results["tests"])
    blank = run_grade("starter", "--assignment", name, "--out", str(tmp_path / "starter"))
    assert blank.returncode == 0, blank.stderr
    assert f"starter: 0 / {total}" in blank.stdout
    scores = item_scores_from_results(blank.results)
    assert set(scores) == {item.label for item in rubric.items}
    assert {label: got for label, (got, _) in scores.items()} == dict.fromkeys(scores, 0.0)
    assert all("NotImplementedError" in t["output"] for t in blank.results["tests"])


def test_tasks_starter_writes_every_profile_inside_a_starter_folder(tmp_path):
    from grader.instructor.starter import write_all_starters

    solution = tmp_path / "solution"
    shutil.copytree(SOLUTION_PACKAGE, solution / "diffusion_hw", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "starter" / "retired-profile" / "diffusion_hw").mkdir(parents=True)
    written = write_all_starters(solution, tmp_path / "starter")
    assert list(written) == PROFILES
    assert (tmp_path / "starter" / "diffusion_hw" / "__init__.py").is_file()
    for name in PROFILES[1:]:
        assert (tmp_path / "starter" / name / "diffusion_hw" / "__init__.py").is_file()
    assert not (tmp_path / "starter" / "retired-profile").exists()
