"""Plans: for each check, the probe calls to make and the reference's outputs for them.

A plan is built live from the reference solution (`build_plans`), or read back from a file written by
`save_plans`. grader/grading/public_expected.safetensors is such a file holding the public checks only: it is
what `grade --public-only` uses on a student's machine, where solution/ does not exist.

File layout (safetensors): each distinct tensor once, as "blob/<content hash>"; in the metadata, "plan"
is JSON {check id: [{"digest", "probe", "params"}, ...]}, "names" maps each call digest's input and
output names to blobs, and "has_expected" says which checks carry reference outputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from grader.checks import Call
from grader.errors import GraderError
from grader.grading.reference import Reference
from grader.rubric import RubricCheck

FORMAT = "diffusion-hw-plans/1"
Tensor = torch.Tensor


@dataclass
class CheckPlan:
    calls: list[Call]
    expected: list[dict[str, Tensor]] | None  # the reference's outputs, call by call (None: property check)


class MemoizedReference:
    """A Reference that runs each distinct call once (checks of one item often share their call)."""

    def __init__(self, inner: Reference) -> None:
        self.inner = inner
        self.memo: dict[str, dict[str, Tensor]] = {}

    def run(self, probe: str, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
        key = Call(probe, params, inputs).digest()
        if key not in self.memo:
            self.memo[key] = self.inner.run(probe, inputs, params)
        return self.memo[key]

    def __hash__(self) -> int:
        return id(self)


def build_plans(checks: Iterable[RubricCheck], reference: Reference) -> dict[str, CheckPlan]:
    """Plan every check against the live reference."""
    memo = reference if isinstance(reference, MemoizedReference) else MemoizedReference(reference)
    plans: dict[str, CheckPlan] = {}
    for rubric_check in checks:
        check = rubric_check.check
        calls = check.plan(memo)
        expected = [memo.run(c.probe, c.inputs, c.params) for c in calls] if check.uses_reference else None
        plans[check.id()] = CheckPlan(calls, expected)
    return plans


def _blob_key(value: Tensor) -> str:
    h = hashlib.sha256(f"{value.dtype}:{tuple(value.shape)}".encode())
    h.update(value.numpy().tobytes())
    return h.hexdigest()[:32]


def save_plans(plans: dict[str, CheckPlan], path: Path, note: str = "") -> None:
    """Write `plans` to a safetensors file; identical tensors (the same buffers in many calls) are stored once."""
    blobs: dict[str, Tensor] = {}
    names: dict[str, dict[str, dict[str, str]]] = {}  # call digest -> "in"/"out" -> name -> blob

    def store(value: Tensor) -> str:
        value = value.detach().clone().contiguous()
        key = _blob_key(value)
        blobs.setdefault(key, value)
        return key

    layout: dict[str, list[dict]] = {}
    has_expected: dict[str, bool] = {}
    for check_id, plan in sorted(plans.items()):
        entries = []
        for index, call in enumerate(plan.calls):
            digest = call.digest()
            entries.append({"digest": digest, "probe": call.probe, "params": call.params})
            slot = names.setdefault(digest, {})
            slot["in"] = {name: store(value) for name, value in call.inputs.items()}
            if plan.expected is not None:
                slot["out"] = {name: store(value) for name, value in plan.expected[index].items()}
        layout[check_id] = entries
        has_expected[check_id] = plan.expected is not None
    metadata = {
        "format": FORMAT,
        "plan": json.dumps(layout, sort_keys=True),
        "has_expected": json.dumps(has_expected, sort_keys=True),
        "names": json.dumps(names, sort_keys=True),
        "note": note,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({f"blob/{k}": v for k, v in sorted(blobs.items())}, str(path), metadata=metadata)


def load_plans(path: Path) -> dict[str, CheckPlan]:
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as handle:
            header_size = int.from_bytes(handle.read(8), "little")
            metadata = json.loads(handle.read(header_size)).get("__metadata__", {})
    except FileNotFoundError:
        raise GraderError(f"{path} not found: rebuild it with `python3 -m grader.grading.public_expected`") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise GraderError(f"{path} is not a readable plans file ({exc}): "
                          "rebuild it with `python3 -m grader.grading.public_expected`") from None
    if metadata.get("format") != FORMAT:
        raise GraderError(f"{path} has format {metadata.get('format')!r}, not {FORMAT!r}: rebuild it")
    layout = json.loads(metadata["plan"])
    has_expected = json.loads(metadata["has_expected"])
    names = json.loads(metadata["names"])

    def tensors_of(digest: str, direction: str) -> dict[str, Tensor]:
        return {name: tensors[f"blob/{key}"] for name, key in names.get(digest, {}).get(direction, {}).items()}

    plans: dict[str, CheckPlan] = {}
    for check_id, entries in layout.items():
        calls = [Call(e["probe"], e["params"], tensors_of(e["digest"], "in")) for e in entries]
        expected = [tensors_of(e["digest"], "out") for e in entries] if has_expected[check_id] else None
        plans[check_id] = CheckPlan(calls, expected)
    return plans
