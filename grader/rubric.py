"""The rubric and the assignment profiles, read and validated: which checks run, what each is worth, who sees it.

A rubric is a TOML file: [rubric] (total, hidden_visibility), one [[item]] per TODO item with its
[[item.check]]s, and optionally [metrics] (grader/generative/bands.py), [resources]
(grader/instructor/cluster.py) and [assignment] (below). `load_rubric(path)` reads one.

An assignment profile is a whole rubric for one homework: grader/rubric.toml is the default profile
(named DEFAULT_PROFILE), and every grader/assignments/<name>.toml is another (grader/assignments/README.md
documents the format and how to add one). `load_profile(name)` reads one by name, `profile_names()` lists
them (`grade assignments`). The TODO items a profile's students write are exactly its [[item]]s: the
starter of that profile (grader/instructor/starter.py) stubs those functions and ships every other
solution block as given code, numbered as the profile numbers them.

Reuse. An [[item]] may write `checks_as = "PROFILE"` instead of its [[item.check]]s: it then has exactly
the checks, points and visibilities of the same function's item in that profile (which must list them
itself). `resolved_rubric_text(path)` writes such a file out whole, for a zip that holds no other profile.

Validation. Every check of a function the rubric lists must be listed (points = 0 keeps one as
feedback only), so a check added to grader/checks/ cannot be forgotten by a rubric that grades its
function; a function the rubric does not list is given code and none of its checks run.

    [assignment]
    name = "cosine-cats"          optional in grader/assignments/<name>.toml (then it must be <name>);
                                  grader/rubric.toml names the default profile here
    title = "..."                 student-facing: the handout README's heading
    description = "..."           instructor-facing (README table, `grade assignments`): never shipped
    dataset = "digits"            the training data: "digits" (built in) or a data set's name
    image_size = 32               the side of the training images and of the samples handed in
    channels = 3                  optional (default 3; the built-in digits are grey: 1)
    timesteps = 1000              T of the forward process
    beta_schedule = "linear"      linear | cosine | sigmoid
    objective = "pred_noise"      pred_noise | pred_x0 | pred_v
    loss_type = "l2"              l1 | l2 | huber
    [assignment.smoke]            optional: what a GPU smoke run of this assignment trains on
    dataset = "anime-faces-64"    (the CPU smoke run always trains on the built-in digits)
    image_size = 64
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.checks import Check, discover
from grader.errors import GraderError

GRADER_DIR = Path(__file__).resolve().parent
DEFAULT_RUBRIC = GRADER_DIR / "rubric.toml"
ASSIGNMENTS_DIR = GRADER_DIR / "assignments"  # one <name>.toml per profile besides the default; not in the handout
DEFAULT_PROFILE = "illusions"  # grader/rubric.toml's profile: DDPM / DDIM on anime faces, then optical illusions
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ITEM_NUMBER = re.compile(r"^\d+(\.\d+)*$")
VISIBILITIES = ("public", "hidden")
GRADESCOPE_HIDDEN = ("hidden", "after_due_date", "after_published")
BETA_SCHEDULES = ("linear", "cosine", "sigmoid")  # diffusion_hw.schedules.BETA_SCHEDULES
OBJECTIVES = ("pred_noise", "pred_x0", "pred_v")  # diffusion_hw.gaussian_diffusion.OBJECTIVES
LOSS_TYPES = ("l1", "l2", "huber")  # diffusion_hw.gaussian_diffusion.LOSS_TYPES


@dataclass(frozen=True)
class RubricCheck:
    check: Check
    item_number: str
    function: str
    points: float
    public: bool

    @property
    def id(self) -> str:
        return self.check.id()


@dataclass(frozen=True)
class Item:
    number: str
    function: str
    checks: tuple[RubricCheck, ...]

    @property
    def label(self) -> str:
        return f"{self.number} {self.function}"

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)


@dataclass(frozen=True)
class Smoke:
    """What a GPU smoke run of the assignment trains on: a data set's name and its image size."""

    dataset: str
    image_size: int


@dataclass(frozen=True)
class Assignment:
    """The [assignment] table: what the homework trains on and with which defaults."""

    name: str | None  # None: a rubric outside grader/assignments/ that does not name itself
    title: str
    description: str
    dataset: str
    image_size: int
    channels: int
    timesteps: int
    beta_schedule: str
    objective: str
    loss_type: str
    smoke: Smoke | None = None

    def training_defaults(self) -> dict[str, Any]:
        """The GaussianDiffusion / data settings the notebooks and the smoke run start from."""
        return {"dataset": self.dataset, "image_size": self.image_size, "channels": self.channels,
                "timesteps": self.timesteps, "beta_schedule": self.beta_schedule, "objective": self.objective,
                "loss_type": self.loss_type}


@dataclass(frozen=True)
class Rubric:
    total: float
    hidden_visibility: str
    items: tuple[Item, ...]
    path: Path
    metrics: Any = None  # grader.generative.bands.MetricsRubric: FID / AFD bands, scored only when a metric ran
    assignment: Assignment | None = None  # the [assignment] table, when the rubric has one

    def checks(self, public_only: bool = False) -> list[RubricCheck]:
        return [c for item in self.items for c in item.checks if c.public or not public_only]

    @property
    def name(self) -> str | None:
        """The profile's name (`grade --assignment NAME`), or None for a rubric without one."""
        return self.assignment.name if self.assignment else None


def _fail(path: Path, where: str, message: str) -> GraderError:
    return GraderError(f"{path}: {where}: {message}")


def _keys(path: Path, where: str, table: Any, required: set[str], optional: set[str] = frozenset()) -> None:
    if not isinstance(table, dict):
        raise _fail(path, where, f"expected a table, got {type(table).__name__}")
    missing = required - table.keys()
    if missing:
        raise _fail(path, where, f"missing key(s) {', '.join(sorted(missing))}")
    unknown = table.keys() - required - optional
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise _fail(path, where, f"unknown key(s) {', '.join(sorted(unknown))} (allowed: {allowed})")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_rubric(path: Path = DEFAULT_RUBRIC) -> Rubric:
    """Read and validate the rubric; GraderError (one line, naming the file and place) on any problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GraderError(f"rubric not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GraderError(f"{path}: not valid TOML: {exc}") from None
    registry = discover()
    # [resources]: grader/instructor/cluster.py; [metrics]: grader/generative/bands.py
    _keys(path, "top level", data, {"rubric", "item"}, {"metrics", "resources", "assignment"})
    header = data["rubric"]
    _keys(path, "[rubric]", header, {"total"}, {"hidden_visibility"})
    total = header["total"]
    if not _number(total) or total <= 0:
        raise _fail(path, "[rubric] total", f"must be a positive number, got {total!r}")
    hidden_visibility = header.get("hidden_visibility", "after_published")
    if hidden_visibility not in GRADESCOPE_HIDDEN:
        raise _fail(path, "[rubric] hidden_visibility",
                    f"must be one of {', '.join(GRADESCOPE_HIDDEN)}, got {hidden_visibility!r}")
    if not isinstance(data["item"], list):
        raise _fail(path, "item", "write each item as [[item]]")

    items: list[Item] = []
    seen_numbers: set[str] = set()
    seen_functions: set[str] = set()
    seen_checks: set[str] = set()
    reused_from: dict = {}  # the profiles items reuse checks from, each read once
    for position, item in enumerate(data["item"], start=1):
        where = f"[[item]] #{position}"
        _keys(path, where, item, {"number", "function"}, {"check", "checks_as"})
        number, function = str(item["number"]), item["function"]
        where = f"item {number} ({function})"
        if ("check" in item) == ("checks_as" in item):
            raise _fail(path, where, "give the item its [[item.check]]s, or checks_as = \"PROFILE\" to reuse "
                                     "another profile's checks of this function: one of the two")
        if "checks_as" in item:
            item = {**item, "check": reused_checks(path, where, function, item["checks_as"], reused_from)}
        if not ITEM_NUMBER.match(number):
            raise _fail(path, where, "write item numbers as 1, 2.1 or 3.2.1 (the starter's TODO comments show them)")
        if number in seen_numbers:
            raise _fail(path, where, "this item number is used twice")
        seen_numbers.add(number)
        if function in seen_functions:
            raise _fail(path, where, "this function is already an item: list all its checks under one [[item]]")
        seen_functions.add(function)
        known = {cid.split(".", 1)[1] for cid in registry if cid.split(".", 1)[0] == function}
        if not known:
            raise _fail(path, where,
                        f"no checks are implemented for function {function!r} (add grader/checks/{function}.py)")
        if not isinstance(item["check"], list):
            raise _fail(path, where, "write each check as [[item.check]]")
        checks: list[RubricCheck] = []
        for entry in item["check"]:
            _keys(path, where, entry, {"check", "points", "visibility"})
            name, points, visibility = entry["check"], entry["points"], entry["visibility"]
            check_id = f"{function}.{name}"
            if name not in known:
                raise _fail(path, where,
                            f"unknown check {name!r}; the checks of {function} are: {', '.join(sorted(known))}")
            if check_id in seen_checks:
                raise _fail(path, where, f"check {name!r} is listed twice")
            seen_checks.add(check_id)
            if not _number(points) or points < 0:
                raise _fail(path, f"{where}, check {name!r}", f"points must be a number >= 0, got {points!r}")
            if visibility not in VISIBILITIES:
                raise _fail(path, f"{where}, check {name!r}",
                            f"visibility must be 'public' or 'hidden', got {visibility!r}")
            checks.append(RubricCheck(registry[check_id](), number, function, float(points), visibility == "public"))
        items.append(Item(number, function, tuple(checks)))

    # A function the rubric grades is graded by all of its checks; one it leaves out is given code.
    missing = sorted(cid for cid in registry if cid.split(".", 1)[0] in seen_functions and cid not in seen_checks)
    if missing:
        raise GraderError(
            f"{path}: check(s) {', '.join(missing)} are implemented but not in the rubric: "
            "add them under their item (points = 0 keeps them as feedback only)"
        )
    listed = sum(item.points for item in items)
    if not math.isclose(listed, total, abs_tol=1e-9):
        raise GraderError(f"{path}: the checks' points add up to {listed:g}, but [rubric] total is {total:g}")
    assignment = _parse_assignment(path, data.get("assignment"))
    from grader.generative.bands import parse_metrics  # here: bands.py reuses _fail and _keys

    return Rubric(float(total), hidden_visibility, tuple(items), path, parse_metrics(path, data.get("metrics")),
                  assignment)


def reused_checks(path: Path, where: str, function: str, profile: Any, parsed: dict | None = None) -> list:
    """The [[item.check]] tables of `function`'s item in the profile `profile` (an item's checks_as).
    `parsed` ({profile file: its TOML}) keeps each profile read once while one rubric is loaded."""
    if not isinstance(profile, str) or profile not in profile_names():
        raise _fail(path, f"{where} checks_as",
                    f"must name a profile ({', '.join(profile_names())}), got {profile!r}")
    source = profile_path(profile)
    if source.resolve() == Path(path).resolve():
        raise _fail(path, f"{where} checks_as", f"{profile!r} is this profile: list the checks here")
    parsed = {} if parsed is None else parsed
    if source not in parsed:
        try:
            parsed[source] = tomllib.loads(source.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise _fail(path, f"{where} checks_as", f"the profile {profile!r} cannot be read ({exc})") from None
    data = parsed[source]
    for other in data.get("item", []) if isinstance(data.get("item"), list) else []:
        if isinstance(other, dict) and other.get("function") == function:
            if not isinstance(other.get("check"), list):
                raise _fail(path, f"{where} checks_as", f"the profile {profile!r} does not list {function}'s "
                                                        "checks itself: name the profile that does")
            return other["check"]
    raise _fail(path, f"{where} checks_as", f"the profile {profile!r} has no item for {function}")


def resolved_rubric_text(path: Path) -> str:
    """The rubric file at `path` with every `checks_as = "PROFILE"` line replaced by the [[item.check]]
    tables it stands for: a file that loads on its own, where no other profile exists."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    items = tomllib.loads(text).get("item", [])
    reusing = iter([item for item in items if isinstance(item, dict) and "checks_as" in item])
    reused_from: dict = {}

    def inline(match: re.Match) -> str:
        item = next(reusing)
        indent = match.group(1)
        where = f"item {item.get('number')} ({item.get('function')})"
        lines = []
        for entry in reused_checks(path, where, item["function"], item["checks_as"], reused_from):
            lines += [f"{indent}[[item.check]]", f'{indent}check = "{entry["check"]}"',
                      f"{indent}points = {entry['points']}", f'{indent}visibility = "{entry["visibility"]}"']
        return "\n".join(lines)

    return re.sub(r'^([ \t]*)checks_as[ \t]*=[ \t]*"[^"\n]*"[ \t]*(?:#[^\n]*)?$', inline, text, flags=re.M)


def _parse_assignment(path: Path, table: Any) -> Assignment | None:
    """The [assignment] table, validated (see the module docstring for its keys); None without one."""
    if table is None:
        return None
    where = "[assignment]"
    _keys(path, where, table, {"title", "dataset", "image_size", "timesteps", "beta_schedule", "objective",
                               "loss_type"}, {"name", "description", "channels", "smoke"})
    stem = path.stem if path.parent.name == ASSIGNMENTS_DIR.name else None
    name = table.get("name", stem)
    if name is not None and (not isinstance(name, str) or not PROFILE_NAME.match(name)):
        raise _fail(path, f"{where} name", f"must be lower-case letters, digits and '-', got {name!r}")
    if stem is not None and name != stem:
        raise _fail(path, f"{where} name", f"is {name!r} but the file is {path.name}: the file's name is the "
                                           "profile's (rename one of them)")
    for key in ("title", "dataset"):
        if not isinstance(table[key], str) or not table[key].strip():
            raise _fail(path, f"{where} {key}", f"must be a non-empty string, got {table[key]!r}")
    if not isinstance(table.get("description", ""), str):
        raise _fail(path, f"{where} description", "must be a string")
    for key, default in (("image_size", None), ("timesteps", None), ("channels", 3)):
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise _fail(path, f"{where} {key}", f"must be a positive whole number, got {value!r}")
    for key, allowed in (("beta_schedule", BETA_SCHEDULES), ("objective", OBJECTIVES), ("loss_type", LOSS_TYPES)):
        if table[key] not in allowed:
            raise _fail(path, f"{where} {key}", f"must be one of {', '.join(allowed)}, got {table[key]!r}")
    smoke = None
    if "smoke" in table:
        _keys(path, f"{where} smoke", table["smoke"], {"dataset", "image_size"})
        dataset, size = table["smoke"]["dataset"], table["smoke"]["image_size"]
        if not isinstance(dataset, str) or not dataset.strip():
            raise _fail(path, f"{where} smoke dataset", f"must be a non-empty string, got {dataset!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise _fail(path, f"{where} smoke image_size", f"must be a positive whole number, got {size!r}")
        smoke = Smoke(dataset, size)
    return Assignment(name, table["title"], table.get("description", ""), table["dataset"], table["image_size"],
                      table.get("channels", 3), table["timesteps"], table["beta_schedule"], table["objective"],
                      table["loss_type"], smoke)


# ---------------------------------------------------------------------------- profiles by name


def profile_names() -> list[str]:
    """Every profile's name, the default first, then grader/assignments/*.toml in alphabetical order.

    In the students' handout (no grader/assignments/) that is the one profile its rubric names."""
    if not ASSIGNMENTS_DIR.is_dir():
        return [_default_rubric_name()]
    others = sorted(p.stem for p in ASSIGNMENTS_DIR.glob("*.toml") if p.stem != DEFAULT_PROFILE)
    return [DEFAULT_PROFILE, *others]


def _default_rubric_name() -> str:
    """The name grader/rubric.toml's [assignment] gives itself (DEFAULT_PROFILE if none)."""
    try:
        table = tomllib.loads(DEFAULT_RUBRIC.read_text(encoding="utf-8")).get("assignment") or {}
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_PROFILE
    name = table.get("name") if isinstance(table, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_PROFILE


def profile_path(name: str | None) -> Path:
    """The rubric file of the profile `name` (None: the default, grader/rubric.toml); GraderError
    naming the known profiles for an unknown one."""
    if name is None or (name == DEFAULT_PROFILE and ASSIGNMENTS_DIR.is_dir()):
        return DEFAULT_RUBRIC
    known = profile_names()
    if not ASSIGNMENTS_DIR.is_dir():  # the handout: its grader/rubric.toml is its one assignment
        if name == known[0]:
            return DEFAULT_RUBRIC
        raise GraderError(f"this grader holds the assignment {known[0]!r} only, not {name!r}: grade without "
                          "--assignment (or with the assignment the handout is for)")
    path = ASSIGNMENTS_DIR / f"{name}.toml"
    if not PROFILE_NAME.match(name) or not path.is_file():
        raise GraderError(f"no assignment profile {name!r}: the profiles are {', '.join(known)} "
                          f"(`grade assignments`; a new one is a file grader/assignments/{name}.toml)")
    return path


def load_profile(name: str | None = None) -> Rubric:
    """The rubric of the profile `name` (None: the default), validated like any rubric."""
    return load_rubric(profile_path(name))
