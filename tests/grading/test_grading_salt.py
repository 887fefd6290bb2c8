"""The instructor's cases are drawn under a secret salt: none is one of the handout's, a regrade with the
same salt asks the same questions, and the handout's answers earn nothing in instructor grading."""

from __future__ import annotations

import stat

import pytest

from grader.api import grade_submission, prepare_plans
from grader.errors import GraderError
from grader.grading.plans import CheckPlan, load_plans
from grader.grading.public_expected import PUBLIC_EXPECTED
from grader.grading.salt import SALT_ENV_VAR, SALT_FILE, grading_salt
from tests.support.hostile import hostile_submissions

LOOKUP_ATTACK = "answers_from_the_handouts_public_cases"
# edge cases whose inputs are the edge itself (T = 1, the tail of T = 4000): the same under every salt
FIXED_EDGE_CASES = {"cosine_beta_schedule.clips_the_tail_at_0_999", "compute_diffusion_buffers.single_step_T_1"}


def input_keys(plans: dict[str, CheckPlan], check_ids) -> set[tuple]:
    """The values of those checks' calls that a table could be keyed on: every floating-point input but
    the schedule buffers (integer inputs are timesteps, labels and the fixed views' permutations)."""
    keys = set()
    for check_id in check_ids:
        for call in plans[check_id].calls:
            for name, value in call.inputs.items():
                if value.is_floating_point() and ".buffers." not in f".{name}":
                    keys.add((str(value.dtype), tuple(value.shape), value.contiguous().numpy().tobytes()))
    return keys


def digests(plans: dict[str, CheckPlan], check_ids) -> set[str]:
    return {call.digest() for check_id in check_ids for call in plans[check_id].calls}


@pytest.fixture(scope="module")
def salted_plans(rubric) -> dict[str, CheckPlan]:
    return prepare_plans(rubric, salt="a course's salt")


def test_the_environment_salt_comes_first_then_the_file_beside_the_rubric(tmp_path, monkeypatch):
    (tmp_path / SALT_FILE).write_text("beside the rubric\n")
    monkeypatch.setenv(SALT_ENV_VAR, "from the environment")
    assert grading_salt(tmp_path / "rubric.toml") == "from the environment"
    monkeypatch.delenv(SALT_ENV_VAR)
    assert grading_salt(tmp_path / "rubric.toml") == "beside the rubric"


def test_a_missing_salt_is_created_once_in_the_cache_for_its_owner_only_and_said(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_ENV_VAR, raising=False)
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(tmp_path / "cache"))
    lines: list[str] = []
    first = grading_salt(tmp_path / "rubric.toml", log=lines.append)
    again = grading_salt(tmp_path / "rubric.toml", log=lines.append)
    path = tmp_path / "cache" / SALT_FILE
    assert first == again == path.read_text().strip() and len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(lines) == 1 and str(path) in lines[0] and SALT_ENV_VAR in lines[0]


def test_an_empty_salt_file_stops_grading_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_ENV_VAR, raising=False)
    (tmp_path / SALT_FILE).write_text("\n")
    with pytest.raises(GraderError, match="is empty: put any secret text in it"):
        grading_salt(tmp_path / "rubric.toml")


def test_the_same_salt_draws_the_same_cases_and_another_salt_others(rubric, salted_plans):
    again = prepare_plans(rubric, salt="a course's salt")
    other = prepare_plans(rubric, salt="next term's salt")
    unchanged = set()
    for check_id, plan in salted_plans.items():
        assert [c.digest() for c in plan.calls] == [c.digest() for c in again[check_id].calls], check_id
        if [c.digest() for c in plan.calls] == [c.digest() for c in other[check_id].calls]:
            unchanged.add(check_id)
    assert unchanged == FIXED_EDGE_CASES


def test_no_instructor_case_is_one_of_the_handouts_public_cases(rubric, salted_plans):
    public = load_plans(PUBLIC_EXPECTED)
    every_check = [c.id for c in rubric.checks()]
    assert not digests(salted_plans, every_check) & digests(public, public.keys())
    assert not input_keys(salted_plans, every_check) & input_keys(public, public.keys())


def test_no_hidden_check_shares_a_call_or_an_input_with_a_public_one(rubric, salted_plans):
    public_ids = [c.id for c in rubric.checks() if c.public]
    hidden_ids = [c.id for c in rubric.checks() if not c.public]
    assert not digests(salted_plans, hidden_ids) & digests(salted_plans, public_ids)
    assert not input_keys(salted_plans, hidden_ids) & input_keys(salted_plans, public_ids)


@pytest.mark.slow
def test_the_handouts_answers_earn_public_points_in_self_checks_and_nothing_in_instructor_grading(
        tmp_path, starter_root, rubric):
    """The lookup table is a real attack (it passes every public self-check a table can: all but the
    loop's, which watch it step); the instructor's salted cases leave it nothing. (The end-to-end test
    grades it through the CLI too.)"""
    attack = next(h for h in hostile_submissions() if h.name == LOOKUP_ATTACK)
    root = attack.build(tmp_path / "attack", starter_root)
    self_check = grade_submission(root, public_only=True)
    stepping = sum(c.points for c in rubric.checks(public_only=True) if c.function == "p_sample_loop")
    failed = [(c.check_id, c.message) for c in self_check.checks if not c.passed]
    assert self_check.score == self_check.max_score - stepping, failed
    instructor = grade_submission(root, salt="a course's salt")
    assert instructor.score == 0, [c.check_id for c in instructor.checks if c.passed]


@pytest.mark.slow
def test_the_autograder_zip_carries_the_salt_and_the_handout_never(tmp_path, monkeypatch):
    import secrets
    import shutil
    import zipfile

    from grader.instructor import public_grader
    from grader.instructor.gradescope import build_gradescope_zip

    archive = build_gradescope_zip(tmp_path / "gradescope.zip")
    assert zipfile.ZipFile(archive).read(f"grader/{SALT_FILE}").decode().strip() == grading_salt()

    grader_copy = tmp_path / "course" / "grader"
    shutil.copytree(public_grader.GRADER_DIR, grader_copy, ignore=shutil.ignore_patterns("__pycache__"))
    secret = secrets.token_hex(16)
    (grader_copy / SALT_FILE).write_text(secret + "\n")
    monkeypatch.setattr(public_grader, "GRADER_DIR", grader_copy)
    shipped = public_grader.write_public_grader(tmp_path / "handout", rubric_path=grader_copy / "rubric.toml")
    assert not list(shipped.rglob(SALT_FILE))
    assert not [p for p in shipped.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
