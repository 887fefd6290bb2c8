"""TODO 2.2 p_losses: the training loss for each objective (pred_noise / pred_x0 / pred_v) and loss type.

The network is a stand-in whose output ignores x_t, and q_sample is a stand-in that returns the
reference x_t, so p_losses is graded on its own: a wrong q_sample never costs points here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, Check, CheckRun, Fail, Verdict, each_case, passed, register
from grader.checks import _strategies as st
from grader.checks._cases import (
    LOSS_TYPES,
    buffer_inputs,
    draw,
    generator,
    image_shapes,
    randn,
    reference_buffers,
    schedule_and_T,
    seeds,
    timesteps_tensor,
    uniform,
)
from grader.checks._compare import FLOAT32, SCALAR_LOSS, check_tensor
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "p_losses"
NUM_CLASSES = 5


@dataclass(frozen=True)
class LossSpec:
    """One p_losses case: x_start of `shape` (B, C, H, W) under `schedule` with T steps, a model built
    with `objective` and `loss_type`, given class labels when `conditional`.

    x_start, the timesteps (0 and T-1 among them), the noise and the stand-in network's output are
    drawn from `seed`."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    objective: str
    loss_type: str
    conditional: bool = False


def p_losses_call(reference: Reference, specs: list[LossSpec]) -> Call:
    """One p_losses probe call with a case per spec; x_t is the reference's q_sample of the case."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        schedule, T, shape, seed = spec.schedule, spec.T, spec.shape, spec.seed
        buffers = buffer_inputs(index, reference_buffers(reference, schedule, T))
        x0 = uniform(shape, seed, -1.0, 1.0)
        t = timesteps_tensor(shape[0], T, seed + 1, include=(0, T - 1))
        noise = randn(shape, seed + 2)
        q_inputs = {k.replace(f"{index}.", "0.", 1): v for k, v in buffers.items()}
        q_inputs.update({"0.x0": x0, "0.t": t, "0.noise": noise})
        x_t = reference.run("q_sample", q_inputs, {"cases": [{"image_size": shape[-1]}]})["0.x_t"]
        inputs.update(buffers)
        inputs.update({
            f"{index}.x0": x0, f"{index}.t": t, f"{index}.noise": noise, f"{index}.x_t": x_t,
            f"{index}.model_out": 1.5 * randn(shape, seed + 3),
        })
        case = {
            "schedule": schedule, "T": T, "shape": list(shape), "image_size": shape[-1],
            "objective": spec.objective, "loss_type": spec.loss_type,
        }
        if spec.conditional:
            inputs[f"{index}.class_labels"] = torch.randint(0, NUM_CLASSES, (shape[0],), generator=generator(seed))
            case["num_classes"] = NUM_CLASSES
        cases.append(case)
    return Call("p_losses", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    return (
        f"objective={case['objective']!r}, loss_type={case['loss_type']!r}, {case['schedule']} schedule, "
        f"T = {case['T']}, x_start of shape {tuple(case['shape'])}"
    )


class _LossMatches(CaseTableCheck[LossSpec]):
    item = ITEM
    build_call = staticmethod(p_losses_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        loss = run.case(0, index, ITEM, context).get("loss")
        if loss is not None and loss.dim() != 0:
            raise Fail(
                f"p_losses returned a tensor of shape {tuple(loss.shape)}; a scalar (0-dim) loss was "
                f"expected: average over every element{context}"
            )
        expected = run.expected_case(0, index)["loss"]
        check_tensor(f"the loss{context}", loss, expected, SCALAR_LOSS, show_values=run.public)


@register
class PredNoiseL2(_LossMatches):
    name = "pred_noise_l2_matches_reference"
    title = "p_losses with objective='pred_noise' and loss_type='l2' matches the reference"

    def specs(self) -> list[LossSpec]:
        return [
            LossSpec("linear", 1000, (4, 3, 8, 8), seed=31, objective="pred_noise", loss_type="l2"),
            LossSpec("cosine", 20, (2, 1, 4, 4), seed=32, objective="pred_noise", loss_type="l2"),
        ]


@register
class HonoursLossType(_LossMatches):
    name = "honours_loss_type"
    title = "p_losses uses the loss_type it was built with: 'l1' (mean absolute error) and 'huber' (smooth L1)"

    def specs(self) -> list[LossSpec]:
        return [
            LossSpec("linear", 1000, (4, 3, 8, 8), seed=33, objective="pred_noise", loss_type="l1"),
            LossSpec("linear", 1000, (4, 3, 8, 8), seed=34, objective="pred_noise", loss_type="huber"),
            LossSpec("sigmoid", 30, (3, 2, 4, 4), seed=35, objective="pred_noise", loss_type="huber"),
        ]


@register
class PredX0AndPredVTargets(_LossMatches):
    name = "pred_x0_and_pred_v_targets"
    title = "p_losses regresses onto x_0 for 'pred_x0' and onto v for 'pred_v', with every loss type"

    def specs(self) -> list[LossSpec]:
        strategy = st.tuples(
            schedule_and_T(), image_shapes(), seeds, st.sampled_from(("pred_x0", "pred_v")), st.sampled_from(LOSS_TYPES)
        )
        drawn = draw(strategy, 6, "p_losses.targets")
        fixed = [
            LossSpec("linear", 1000, (3, 3, 6, 6), seed=36, objective="pred_v", loss_type="l2"),
            LossSpec("cosine", 100, (3, 3, 6, 6), seed=37, objective="pred_x0", loss_type="l2"),
        ]
        return fixed + [
            LossSpec(schedule, T, shape, seed, objective, loss_type)
            for (schedule, T), shape, seed, objective, loss_type in drawn
        ]


@register
class FeedsTheModelQSample(Check):
    item = ITEM
    name = "feeds_the_model_q_sample_of_x0_t_noise"
    title = ("p_losses gives the model x_t = q_sample(x_start, t, noise), the same t and the class labels, and makes "
             "its loss from what the model answers")
    tags = ("p_losses", "q_sample")
    uses_reference = False

    def plan(self, reference: Reference) -> list[Call]:
        return [p_losses_call(reference, [
            LossSpec("linear", 1000, (4, 2, 5, 5), seed=41, objective="pred_noise", loss_type="l2"),
            LossSpec("cosine", 50, (3, 2, 4, 4), seed=42, objective="pred_v", loss_type="l1", conditional=True),
        ])]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]
        def judge_case(index: int, case: dict) -> None:
            context = f" ({describe(case)})"
            given = {name: call.inputs[f"{index}.{name}"] for name in ("x0", "t", "noise", "x_t")}
            got = run.case(0, index, ITEM, context)
            if int(got["model_calls"]) == 0:
                raise Fail(f"p_losses never called the model{context}")
            if int(got["q_sample_calls"]) > 0:
                check_tensor("the x_start p_losses passed to q_sample", got.get("q_sample_x_start"), given["x0"],
                             FLOAT32, show_values=False)
                _check_t("the t p_losses passed to q_sample", got.get("q_sample_t"), given["t"], run.public)
                if "q_sample_noise" not in got:
                    raise Fail("p_losses called q_sample without its noise: pass noise=noise so that the target "
                               f"uses the same eps{context}")
                check_tensor("the noise p_losses passed to q_sample", got["q_sample_noise"], given["noise"],
                             FLOAT32, show_values=False)
            check_tensor(
                "the x_t the model received", got.get("model_x"), given["x_t"], FLOAT32, show_values=False,
                hint="the model must see q_sample(x_start, t, noise)",
            )
            _check_t("the t the model received", got.get("model_t"), given["t"], run.public)
            labels = call.inputs.get(f"{index}.class_labels")
            if labels is not None:
                seen = got.get("model_class_labels")
                if seen is None or seen.shape != labels.shape or not torch.equal(seen.long(), labels):
                    raise Fail(f"p_losses did not pass class_labels on to the model{context}")
            # the gate: feeding the model right and returning a constant is no training loss
            gradient = got.get("loss_gain_grad")
            if gradient is None or not bool(torch.isfinite(gradient).all()) or float(gradient.reshape(-1)[0]) == 0.0:
                raise Fail(f"the loss does not change with the model's output: compute it from the output of the "
                           f"model call, as d(out, target), and return that tensor{context}")

        return each_case(call.params["cases"], judge_case)


def _check_t(what: str, got: torch.Tensor | None, expected: torch.Tensor, public: bool) -> None:
    if got is None or got.numel() != expected.numel() or not torch.equal(got.reshape(-1).long(), expected):
        shown = "missing" if got is None else f"{got.reshape(-1).tolist()}" if public else "other values"
        raise Fail(f"{what} is {shown}, not the t p_losses was called with"
                   + (f" ({expected.tolist()})" if public else ""))


@register
class ReturnsDifferentiableScalar(Check):
    item = ITEM
    name = "returns_a_differentiable_scalar"
    title = "p_losses returns the right loss as a 0-dim tensor that can be backpropagated to the model's parameters"

    def plan(self, reference: Reference) -> list[Call]:
        return [p_losses_call(reference, [
            LossSpec("cosine", 500, (3, 2, 5, 5), seed=38, objective="pred_noise", loss_type="l2"),
        ])]

    def judge(self, run: CheckRun) -> Verdict:
        got = run.case(0, 0, ITEM)
        loss = got.get("loss")
        if loss is None or loss.dim() != 0:
            shape = None if loss is None else tuple(loss.shape)
            raise Fail(f"p_losses returned shape {shape}; a 0-dim loss was expected")
        if not bool(got["loss_requires_grad"]):
            raise Fail("the loss does not require grad: keep it a tensor computed from the model's output "
                       "(no .item(), no torch.no_grad)")
        check_tensor("the loss", loss, run.expected_case(0, 0)["loss"], SCALAR_LOSS, show_values=False)
        return passed()


@register
class PLossesKeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("p_losses hands the model x_t in x_start's dtype (float32, and bfloat16 in a bfloat16 module), "
             "the (B,) int64 t and the (B,) labels as given, and leaves its inputs untouched")

    def call(self, reference: Reference) -> Call:
        specs = [
            LossSpec("linear", 100, (3, 2, 4, 4), seed=51, objective="pred_noise", loss_type="l2"),
            LossSpec("cosine", 30, (2, 3, 4, 4), seed=52, objective="pred_v", loss_type="l1", conditional=True),
            LossSpec("linear", 100, (2, 3, 4, 4), seed=53, objective="pred_x0", loss_type="huber", conditional=True),
        ]
        call = p_losses_call(reference, specs)
        dtypes = ("float32", "float32", "bfloat16")
        cases = [dict(case, dtype=dtype) for case, dtype in zip(call.params["cases"], dtypes)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
