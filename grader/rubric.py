"""grader/rubric.toml, read and validated: which checks run, what each is worth, who sees it."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.checks import Check, discover
from grader.errors import GraderError

DEFAULT_RUBRIC = Path(__file__).resolve().parent / "rubric.toml"
VISIBILITIES = ("public", "hidden")
GRADESCOPE_HIDDEN = ("hidden", "after_due_date", "after_published")


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
class Rubric:
    total: float
    hidden_visibility: str
    items: tuple[Item, ...]
    path: Path
    metrics: Any = None  # grader.generative.bands.MetricsRubric: FID / AFD bands, scored only when a metric ran

    def checks(self, public_only: bool = False) -> list[RubricCheck]:
        return [c for item in self.items for c in item.checks if c.public or not public_only]


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
        raise _fail(path, where, f"unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(required | optional))})")


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
    _keys(path, "top level", data, {"rubric", "item"}, {"metrics", "resources"})  # [resources]: grader/instructor/cluster.py
    header = data["rubric"]
    _keys(path, "[rubric]", header, {"total"}, {"hidden_visibility"})
    total = header["total"]
    if not isinstance(total, (int, float)) or isinstance(total, bool) or not math.isfinite(total) or total <= 0:
        raise _fail(path, "[rubric] total", f"must be a positive number, got {total!r}")
    hidden_visibility = header.get("hidden_visibility", "after_published")
    if hidden_visibility not in GRADESCOPE_HIDDEN:
        raise _fail(path, "[rubric] hidden_visibility", f"must be one of {', '.join(GRADESCOPE_HIDDEN)}, got {hidden_visibility!r}")
    if not isinstance(data["item"], list):
        raise _fail(path, "item", "write each item as [[item]]")

    items: list[Item] = []
    seen_numbers: set[str] = set()
    seen_checks: set[str] = set()
    for position, item in enumerate(data["item"], start=1):
        where = f"[[item]] #{position}"
        _keys(path, where, item, {"number", "function", "check"})
        number, function = str(item["number"]), item["function"]
        where = f"item {number} ({function})"
        if number in seen_numbers:
            raise _fail(path, where, "this item number is used twice")
        seen_numbers.add(number)
        known = {cid.split(".", 1)[1] for cid in registry if cid.split(".", 1)[0] == function}
        if not known:
            raise _fail(path, where, f"no checks are implemented for function {function!r} (add grader/checks/{function}.py)")
        if not isinstance(item["check"], list):
            raise _fail(path, where, "write each check as [[item.check]]")
        checks: list[RubricCheck] = []
        for entry in item["check"]:
            _keys(path, where, entry, {"check", "points", "visibility"})
            name, points, visibility = entry["check"], entry["points"], entry["visibility"]
            check_id = f"{function}.{name}"
            if name not in known:
                raise _fail(path, where, f"unknown check {name!r}; the checks of {function} are: {', '.join(sorted(known))}")
            if check_id in seen_checks:
                raise _fail(path, where, f"check {name!r} is listed twice")
            seen_checks.add(check_id)
            if not isinstance(points, (int, float)) or isinstance(points, bool) or not math.isfinite(points) or points < 0:
                raise _fail(path, f"{where}, check {name!r}", f"points must be a number >= 0, got {points!r}")
            if visibility not in VISIBILITIES:
                raise _fail(path, f"{where}, check {name!r}", f"visibility must be 'public' or 'hidden', got {visibility!r}")
            checks.append(RubricCheck(registry[check_id](), number, function, float(points), visibility == "public"))
        items.append(Item(number, function, tuple(checks)))

    missing = sorted(set(registry) - seen_checks)
    if missing:
        raise GraderError(
            f"{path}: check(s) {', '.join(missing)} are implemented but not in the rubric: "
            "add them under their item (points = 0 keeps them as feedback only)"
        )
    listed = sum(item.points for item in items)
    if not math.isclose(listed, total, abs_tol=1e-9):
        raise GraderError(f"{path}: the checks' points add up to {listed:g}, but [rubric] total is {total:g}")
    from grader.generative.bands import parse_metrics  # here: bands.py reuses _fail and _keys

    return Rubric(float(total), hidden_visibility, tuple(items), path, parse_metrics(path, data.get("metrics")))
