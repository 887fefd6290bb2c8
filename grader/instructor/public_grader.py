"""The student-side grader: grader/ with every hidden check cut out, for the handout.

Students run `python -m grader diffusion_hw --public-only` on their own machine. That needs the
sandbox, the probes (public by design), the plans file grader/grading/public_expected.safetensors (inputs and
reference *outputs* of the public checks, never code) and the public checks' judges. It must not
carry a hidden check: not its class, its name, its inputs, nor its points. So:

  * grader/checks/*.py are copied with every hidden check's class removed, then every top-level
    helper that nothing refers to any more (the hidden checks' input recipes) removed too;
  * grader/rubric.toml is replaced by one listing only the public checks (total = their points) of the
    assignment profile the handout is for, and its [assignment] table without the instructor's description;
  * instructor-only modules (authoring/, batch and cluster grading, benchmarks, Gradescope, course CI)
    are left out, and so are a grading salt kept next to the rubric (grader/grading/salt.py) and the
    assignment profiles (grader/assignments/: their hidden checks and points);
  * grader/grading/public_expected.safetensors is rebuilt from solution/ now, so it always matches the rubric
    and the checks it ships with (the committed copy may lag behind an edit); for a profile other than the
    default it holds that profile's public checks only.

The result imports and runs like the full grader with `--public-only`; without it, it says that the
hidden checks need the reference solution, which the handout does not have.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

from grader.grading.public_expected import build_public_expected
from grader.grading.reference import DEFAULT_SOLUTION
from grader.rubric import DEFAULT_RUBRIC, Rubric, load_rubric

GRADER_DIR = Path(__file__).resolve().parents[1]
# grading-salt: the secret the instructor's cases are drawn from (grader/grading/salt.py), if one sits there;
# assignments: every profile's rubric, hidden checks included (the handout's rubric.toml is its own profile's)
LEFT_OUT = {"instructor", "__pycache__", "grading-salt", "assignments"}
DEF_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def hidden_check_classes(rubric: Rubric) -> dict[str, set[str]]:
    """module name -> names of the classes implementing a hidden (or unlisted) check."""
    from grader.checks import discover

    public = {c.id for c in rubric.checks(public_only=True)}
    hidden: dict[str, set[str]] = {}
    for check_id, cls in discover().items():
        if check_id not in public:
            hidden.setdefault(cls.__module__.rsplit(".", 1)[-1], set()).add(cls.__name__)
    return hidden


def _span(node: ast.AST) -> tuple[int, int]:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno or node.lineno


def _is_registered(node: ast.AST) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "register" for d in getattr(node, "decorator_list", []))


def _remove_lines(source: str, spans: list[tuple[int, int]]) -> str:
    lines = source.splitlines(keepends=True)
    for first, last in sorted(spans, reverse=True):
        del lines[first - 1:last]
    return re.sub(r"\n{4,}", "\n\n\n", "".join(lines))


def _references(tree: ast.AST, skip: tuple[int, int] | None = None) -> set[str]:
    """Every name a module's code uses (outside the line span `skip`)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if skip and line is not None and skip[0] <= line <= skip[1]:
            continue
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name)
    return names


def strip_hidden_checks(
    sources: dict[str, str], hidden: dict[str, set[str]], context: list[str] = ()
) -> dict[str, str]:
    """Module sources with the hidden check classes, and then every orphaned helper, removed.

    A helper is kept while any module of `sources`, or any source text in `context` (the rest of
    the grader), still refers to it."""
    used_elsewhere = set().union(*(_references(ast.parse(text)) for text in context))
    out = {}
    for module, source in sources.items():
        tree = ast.parse(source)
        spans = [_span(n) for n in tree.body if isinstance(n, ast.ClassDef) and n.name in hidden.get(module, ())]
        out[module] = _remove_lines(source, spans)
    while True:  # a helper may have been used only by another removed helper: repeat until stable
        trees = {module: ast.parse(source) for module, source in out.items()}
        removed = False
        for module, tree in trees.items():
            spans = []
            for node in tree.body:
                if not isinstance(node, DEF_NODES) or _is_registered(node) or node.name.startswith("__"):
                    continue
                span = _span(node)
                used = node.name in used_elsewhere or any(
                    node.name in _references(other, span if name == module else None) for name, other in trees.items()
                )
                if not used:
                    spans.append(span)
            if spans:
                out[module] = _remove_lines(out[module], spans)
                removed = True
        if not removed:
            return out


def public_rubric_toml(rubric: Rubric) -> str:
    """grader/rubric.toml for students: the public checks only, their points, their total."""
    lines = [
        "# The public checks of the homework: what `python -m grader diffusion_hw --public-only` runs.",
        "# The course's grader also runs hidden checks, so your final score is out of more points.",
        "",
        "[rubric]",
        f"total = {sum(c.points for c in rubric.checks(public_only=True)):g}",
        f'hidden_visibility = "{rubric.hidden_visibility}"',
    ]
    lines += _assignment_toml(rubric)
    for item in rubric.items:
        public = [c for c in item.checks if c.public]
        if not public:
            continue
        lines += ["", "[[item]]", f'number = "{item.number}"', f'function = "{item.function}"']
        for check in public:
            name = check.id.split(".", 1)[1]
            lines += ["  [[item.check]]", f'  check = "{name}"', f"  points = {check.points:g}",
                      '  visibility = "public"']
    return "\n".join(lines) + "\n"


def _assignment_toml(rubric: Rubric) -> list[str]:
    """The [assignment] table students may see (grader/rubric.py): its name and training defaults, not the
    instructor's description. [] for a rubric without one."""
    a = rubric.assignment
    if a is None:
        return []
    lines = ["", "[assignment]"]
    if a.name is not None:
        lines.append(f'name = "{a.name}"')
    lines += [f"title = {_toml_string(a.title)}", f"dataset = {_toml_string(a.dataset)}",
              f"image_size = {a.image_size}", f"channels = {a.channels}", f"timesteps = {a.timesteps}",
              f'beta_schedule = "{a.beta_schedule}"', f'objective = "{a.objective}"', f'loss_type = "{a.loss_type}"']
    if a.smoke is not None:
        lines += ["  [assignment.smoke]", f"  dataset = {_toml_string(a.smoke.dataset)}",
                  f"  image_size = {a.smoke.image_size}"]
    return lines


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_public_grader(target: Path, rubric_path: Path = DEFAULT_RUBRIC, solution: Path = DEFAULT_SOLUTION) -> Path:
    """Write target/grader/: the student-side grader. Returns that folder."""
    rubric = load_rubric(rubric_path)
    destination = Path(target) / "grader"
    shutil.copytree(GRADER_DIR, destination,
                    ignore=lambda _d, names: [n for n in names if n in LEFT_OUT or n.endswith(".pyc")])
    checks_dir = destination / "checks"
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sorted(checks_dir.glob("*.py"))}
    context = [p.read_text(encoding="utf-8") for p in sorted(destination.rglob("*.py")) if p.parent != checks_dir]
    for module, text in strip_hidden_checks(sources, hidden_check_classes(rubric), context).items():
        (checks_dir / f"{module}.py").write_text(text, encoding="utf-8")
    (destination / "rubric.toml").write_text(public_rubric_toml(rubric), encoding="utf-8")
    plans_file = destination / "grading" / "public_expected.safetensors"
    if Path(rubric_path).resolve() == DEFAULT_RUBRIC.resolve():
        build_public_expected(plans_file, solution)
    else:
        _write_public_plans(plans_file, rubric, solution)
    return destination


def _write_public_plans(path: Path, rubric: Rubric, solution: Path) -> None:
    """public_expected.safetensors for a profile: its public checks' plans, with the reference's outputs
    (the handout's fixed cases, as build_public_expected draws them for the default rubric)."""
    from grader.grading.plans import build_plans, save_plans
    from grader.grading.reference import LiveReference

    plans = build_plans(rubric.checks(public_only=True), LiveReference(solution))
    save_plans(plans, path, note=f"public checks of the assignment {rubric.name}; rebuilt with its handout")
    path.chmod(0o644)
