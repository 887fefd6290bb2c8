"""TODO 2.4 p_sample_loop: start from x ~ N(0, I), call p_sample for t = T-1, ..., 0, return unnormalize(x).

p_sample itself is replaced by a recording stand-in, so this item is graded whatever the student's
p_sample does. Images leave the loop through the given `unnormalize`: [-1, 1] -> [0, 1], (x + 1) / 2.
Every check judges the result together with the steps the stand-in saw, so a loop earns nothing
for a result it did not reach by stepping (reading the oracle's image, asking the network once).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case, register
from grader.checks._cases import buffer_inputs, case_seed, reference_buffers, uniform
from grader.checks._compare import FLOAT32, PROPERTY, check_shape, check_tensor, fmt_values
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "p_sample_loop"
NUM_CLASSES = 3


def unnormalize(x: torch.Tensor) -> torch.Tensor:
    """The given helper unnormalize_to_zero_to_one."""
    return (x.to(torch.float64) + 1) * 0.5


@dataclass(frozen=True)
class LoopSpec:
    """One scripted loop case: p_sample_loop(`shape`) under `schedule` with T steps, p_sample replaced
    by a recording stand-in whose per-step offsets are drawn from `seed` (the torch seed of the loop's
    starting noise too); with a `guidance_scale` the loop is given class labels and that scale, and
    `return_all_timesteps` is passed on when set."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    guidance_scale: float | None = None
    return_all_timesteps: bool = False


@dataclass(frozen=True)
class OracleSpec:
    """One oracle loop case: p_sample_loop under `schedule` with T steps and a perfect network of
    `objective` that knows an x_0 of `shape` (B, C, H, W)."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    objective: str


def scripted_call(reference: Reference, specs: list[LoopSpec]) -> Call:
    """One p_sample_loop_scripted probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        T, shape, seed = spec.T, tuple(spec.shape), spec.seed
        inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, T)))
        inputs[f"{index}.offsets"] = uniform((T, *shape), seed, -0.5, 0.5)
        case = {"schedule": spec.schedule, "T": T, "shape": list(shape), "image_size": shape[-1],
                "seed": case_seed(seed)}
        if spec.return_all_timesteps:
            case["return_all_timesteps"] = True
        if spec.guidance_scale is not None:
            inputs[f"{index}.class_labels"] = torch.arange(shape[0]) % NUM_CLASSES
            case.update(num_classes=NUM_CLASSES, guidance_scale=spec.guidance_scale)
        cases.append(case)
    return Call("p_sample_loop_scripted", {"cases": cases}, inputs)


PLAIN = [
    LoopSpec("linear", 100, (2, 3, 4, 4), seed=81),
    LoopSpec("cosine", 1, (2, 1, 3, 3), seed=82),
    LoopSpec("linear", 1000, (1, 1, 2, 2), seed=83),
]


def describe(case: dict) -> str:
    return f"T = {case['T']}, shape = {tuple(case['shape'])}"


class _Scripted(Check):
    item = ITEM
    uses_reference = False
    specs: list[LoopSpec] = PLAIN

    def plan(self, reference: Reference) -> list[Call]:
        return [scripted_call(reference, self.specs)]

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict) -> None:
            context = f" ({describe(case)})"
            self.judge_case(run.case(0, index, ITEM, context), case, context, run)

        return each_case(run.calls[0].params["cases"], judge_case)

    def judge_case(self, got: dict, case: dict, context: str, run: CheckRun) -> None:
        raise NotImplementedError


@register
class VisitsEveryTDownward(_Scripted):
    name = "visits_t_from_T_minus_1_down_to_0"
    title = "p_sample_loop calls p_sample once for each t = T-1, T-2, ..., 0, in that order"

    def judge_case(self, got, case, context, run) -> None:
        check_visits(got, case["T"], context, run.public)


def check_visits(got: dict, T: int, context: str, public: bool) -> None:
    """Fail unless the recording p_sample was called for t = T-1, ..., 0, in that order."""
    visited = got["visited_t"].tolist()
    want = list(reversed(range(T)))
    if visited != want:
        if public:
            seen = f"t = {fmt_values(visited, 6)} ({len(visited)} calls)"
        else:
            seen = f"{len(visited)} times, not for each t in turn"
        raise Fail(f"p_sample_loop called p_sample with {seen}, but it should visit t = {fmt_values(want, 6)}: "
                   f"reversed(range(T)){context}")


def check_feeds(got: dict, T: int, context: str) -> None:
    """Fail unless each p_sample call received the x the previous one returned."""
    if "step_inputs" not in got:
        raise Fail(f"p_sample_loop never called self.p_sample{context}")
    inputs, outputs = got["step_inputs"], got["step_outputs"]
    if inputs.dim() == 0 or inputs.shape != outputs.shape or inputs.shape[0] > 4 * T:
        raise Fail(f"the recorded p_sample calls do not fit together (x of shape {tuple(inputs.shape)}, results of "
                   f"shape {tuple(outputs.shape)}): p_sample_loop must call self.p_sample, at most 4 T times{context}")
    for k in range(1, inputs.shape[0]):
        if not torch.allclose(inputs[k].double(), outputs[k - 1].double(), rtol=1e-6, atol=1e-6):
            raise Fail(f"call {k + 1} of p_sample did not receive the x returned by call {k}: "
                       f"feed each step's x_prev into the next step{context}")


@register
class FeedsEachStepAndReturnsLastX(_Scripted):
    name = "feeds_each_step_and_returns_the_unnormalized_last_x"
    title = "p_sample_loop feeds each step's x into the next and returns unnormalize(last x) of shape (B, C, H, W)"

    def judge_case(self, got, case, context, run) -> None:
        shape = tuple(case["shape"])
        check_feeds(got, case["T"], context)
        outputs = got["step_outputs"]
        result = got["result"]
        check_shape(f"the result of p_sample_loop{context}", result, shape)
        hint = ""
        if torch.allclose(result.double(), outputs[-1].double(), atol=1e-6):
            hint = "the result is the last x itself: map it back to [0, 1] with self.unnormalize"
        check_tensor(f"the result of p_sample_loop{context}", result, unnormalize(outputs[-1]), FLOAT32,
                     show_values=False, hint=hint or "return self.unnormalize(x) of the x the last p_sample returned")


@register
class StartsFromStandardNormalNoise(_Scripted):
    name = "starts_from_standard_normal_noise"
    title = "p_sample_loop starts from x ~ N(0, I) of the requested shape"
    specs = [LoopSpec("linear", 5, (4, 3, 8, 8), seed=84)]

    def judge_case(self, got, case, context, run) -> None:
        if "step_inputs" not in got:
            raise Fail(f"p_sample_loop never called self.p_sample{context}")
        start = got["step_inputs"][0].double()
        check_shape(f"the x p_sample_loop starts from{context}", start, tuple(case["shape"]))
        mean, std = float(start.mean()), float(start.std())
        if not (abs(mean) < 0.25 and 0.8 < std < 1.2):
            measured = f" has mean {mean:.3g} and std {std:.3g}" if run.public else " is not standard normal noise"
            raise Fail(f"the starting x{measured}; x_T should be drawn from N(0, I) with torch.randn(shape){context}")


@register
class ReturnAllTimesteps(_Scripted):
    name = "return_all_timesteps_stacks_every_step"
    title = ("p_sample_loop(return_all_timesteps=True) returns (B, T + 1, C, H, W): the start, then every step, "
             "unnormalized")
    specs = [
        LoopSpec("linear", 60, (2, 3, 4, 4), seed=85, return_all_timesteps=True),
        LoopSpec("cosine", 1, (3, 1, 2, 2), seed=86, return_all_timesteps=True),
    ]

    def judge_case(self, got, case, context, run) -> None:
        B, C, H, W = case["shape"]
        T = case["T"]
        if "step_inputs" not in got:
            raise Fail(f"p_sample_loop never called self.p_sample{context}")
        result = got["result"]
        check_shape(f"p_sample_loop(..., return_all_timesteps=True){context}", result, (B, T + 1, C, H, W),
                    hint="stack the start and the T steps along dim=1")
        frames = torch.cat([got["step_inputs"][:1], got["step_outputs"]]).transpose(0, 1)  # (B, K + 1, C, H, W)
        if frames.shape != result.shape:
            raise Fail(f"p_sample_loop returned {T + 1} frames but called p_sample {frames.shape[1] - 1} "
                       f"times{context}")
        check_tensor(f"the frames of p_sample_loop(..., return_all_timesteps=True){context}", result,
                     unnormalize(frames), FLOAT32, where=lambda i: f"in frame {i[1]} of sample {i[0]}",
                     show_values=False,
                     hint="frame 0 is the starting noise, frame k the x after k steps, all unnormalized")


@register
class PassesClassLabelsAndGuidance(_Scripted):
    name = "passes_class_labels_and_guidance_to_p_sample"
    title = "p_sample_loop passes class_labels and guidance_scale on to every p_sample"
    specs = [LoopSpec("cosine", 8, (3, 1, 4, 4), seed=87, guidance_scale=2.5)]

    def judge_case(self, got, case, context, run) -> None:
        steps = int(got["visited_t"].numel())
        if steps == 0:
            raise Fail(f"p_sample_loop never called self.p_sample{context}")
        if int(got["labels_passed"]) != steps:
            raise Fail(f"only {int(got['labels_passed'])} of {steps} p_sample calls received class_labels{context}")
        labels = run.calls[0].inputs["0.class_labels"]
        if not all(torch.equal(row.long(), labels) for row in got["labels"]):
            raise Fail(f"p_sample received class labels other than those given to p_sample_loop{context}")
        guidance = got["guidance"]
        if not bool(torch.all(guidance == case["guidance_scale"])):
            received = f" {fmt_values(guidance, 4)}" if run.public else " values"
            raise Fail(f"p_sample received guidance_scale{received} other than {case['guidance_scale']}, "
                       f"the one given to p_sample_loop{context}")


@register
class OracleLoopReturnsX0(Check):
    item = ITEM
    name = "oracle_loop_returns_x0_for_any_seed"
    title = ("with a perfect denoiser and steps that land on its x_0 estimate at t = 0, p_sample_loop steps from "
             "T-1 down to 0 and returns unnormalize(x0), for any seed")
    uses_reference = False

    def plan(self, reference: Reference) -> list[Call]:
        cases, inputs = [], {}
        specs = [
            OracleSpec("linear", 50, (2, 3, 4, 4), objective="pred_noise"),
            OracleSpec("cosine", 20, (1, 1, 4, 4), objective="pred_v"),
            OracleSpec("sigmoid", 1, (2, 2, 2, 2), objective="pred_x0"),
        ]
        for index, spec in enumerate(specs * 2):  # each x_0 twice, under two torch seeds
            inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, spec.T)))
            inputs[f"{index}.x0"] = uniform(spec.shape, 90 + index % len(specs), -1.0, 1.0)
            cases.append({"schedule": spec.schedule, "T": spec.T, "image_size": spec.shape[-1],
                          "objective": spec.objective, "seed": case_seed(1000 + index)})
        return [Call("p_sample_loop_oracle", {"cases": cases}, inputs)]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]
        def judge_case(index: int, case: dict) -> None:
            context = f" (T = {case['T']}, torch seed {case['seed']})"
            got = run.case(0, index, ITEM, context)
            check_visits(got, case["T"], context, run.public)  # the gates: the result must come out of the T steps
            check_feeds(got, case["T"], context)
            check_tensor(f"p_sample_loop's result{context}", got.get("result"), unnormalize(call.inputs[f"{index}.x0"]),
                         PROPERTY, show_values=False,
                         hint="the loop must end with the step t = 0 and return unnormalize of the x it returned")

        return each_case(call.params["cases"], judge_case)


@register
class PSampleLoopKeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("p_sample_loop draws its starting noise on the model's device: it runs with the model on a device "
             "other than the CPU")

    def call(self, reference: Reference) -> Call:
        call = scripted_call(reference, [LoopSpec("linear", 10, (2, 3, 4, 4), seed=91)])
        cases = [dict(case, device="meta") for case in call.params["cases"]]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
