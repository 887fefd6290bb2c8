"""Hostile submissions: code that tries to hang, crash, cheat or escape the grader, as data.

Each is built from the solution (to prove the rest of the package still earns its points) or the
starter (which deserves 0, so any point it gets was stolen), plus the hostile code. `expected` maps
every TODO item to the score it must get: "full" or 0.
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from grader.rubric import load_rubric
from tests.support.corpus import ROOT, SOLUTION

STARTER = ROOT / "starter"
ITEMS = tuple(item.function for item in load_rubric().items)  # the default homework's TODO items, in order
Q_SAMPLE_BODY = (
    "        noise = default(noise, lambda: torch.randn_like(x_start))\n"
    "        return (\n"
    "            extract(self.sqrt_alphas_bar, t, x_start.shape) * x_start\n"
)


@dataclass(frozen=True)
class Hostile:
    name: str
    base: str  # "solution" or "starter"
    prepend_init: str = ""  # code run first thing when diffusion_hw is imported
    q_sample_prefix: str = ""  # code run at the start of q_sample (solution-based only)
    zero_items: tuple[str, ...] = ITEMS  # items that must score 0; all others full marks
    package_files: tuple[tuple[str, Path], ...] = ()  # (name in diffusion_hw/, file copied there)

    def build(self, destination: Path, starter_root: Path = STARTER) -> Path:
        package = destination / "diffusion_hw"
        source = SOLUTION if self.base == "solution" else starter_root
        shutil.copytree(source / "diffusion_hw", package, ignore=shutil.ignore_patterns("__pycache__"))
        for name, file in self.package_files:
            shutil.copyfile(file, package / name)
        if self.prepend_init:
            init = package / "__init__.py"
            prepended = textwrap.dedent(self.prepend_init) + "\n" + init.read_text(encoding="utf-8")
            init.write_text(prepended, encoding="utf-8")
        if self.q_sample_prefix:
            path = package / "gaussian_diffusion.py"
            text = path.read_text(encoding="utf-8")
            assert text.count(Q_SAMPLE_BODY) == 1, "the solution's q_sample changed: update tests/support/hostile.py"
            prefix = textwrap.indent(textwrap.dedent(self.q_sample_prefix), " " * 8)
            path.write_text(text.replace(Q_SAMPLE_BODY, prefix + Q_SAMPLE_BODY), encoding="utf-8")
        return destination


# The handout's public cases as an answer key: every TODO looks its inputs up among the public cases
# (grader/grading/public_expected.safetensors, shipped with the handout, copied into the package) and returns
# the reference's outputs stored for them. It earns the public points of `grade --public-only`; the
# instructor's grading draws its cases under the grading salt, so there it must earn nothing.
LOOKUP_TABLE = """
    import importlib, json, os
    import torch
    from safetensors.torch import load_file

    _file = os.path.join(os.path.dirname(__file__), "public_cases.safetensors")
    _blobs = load_file(_file)
    with open(_file, "rb") as _handle:
        _meta = json.loads(_handle.read(int.from_bytes(_handle.read(8), "little")))["__metadata__"]
    _names = json.loads(_meta["names"])

    def _key(tensor):
        tensor = torch.as_tensor(tensor).detach().cpu().contiguous()
        return (str(tensor.dtype), tuple(tensor.shape), tensor.numpy().tobytes())

    _TABLE, _SCHEDULES = {}, {}  # (probe, input name, key) -> cases; (schedule, T, kwargs) -> betas
    for _entries in json.loads(_meta["plan"]).values():
        for _entry in _entries:
            _io = _names.get(_entry["digest"], {})
            _ins = {k: _blobs["blob/" + v] for k, v in _io.get("in", {}).items()}
            _outs = {k: _blobs["blob/" + v] for k, v in _io.get("out", {}).items()}
            for _i, _case in enumerate(_entry["params"].get("cases", [])):
                _strip = lambda d: {k[len(f"{_i}."):]: v for k, v in d.items() if k.startswith(f"{_i}.")}
                _record = dict(_entry["params"], case=_case, inputs=_strip(_ins), outputs=_strip(_outs))
                if _entry["probe"] == "beta_schedule" and "betas" in _record["outputs"]:
                    _kwargs = json.dumps(_case.get("kwargs", {}), sort_keys=True)
                    _SCHEDULES[(_entry["params"]["schedule"], _case["T"], _kwargs)] = _record["outputs"]["betas"]
                _tensors = list(_record["inputs"].items()) + [("out:" + k, v) for k, v in _record["outputs"].items()]
                for _name, _value in _tensors:
                    if not _name.startswith("buffers."):
                        _TABLE.setdefault((_entry["probe"], _name, _key(_value)), []).append(_record)

    def _find(probe, name, tensor, **case):
        for record in _TABLE.get((probe, name, _key(tensor)), []):
            if all(record["case"].get(k, record.get(k)) == v for k, v in case.items()):
                return record
        raise LookupError("not one of the handout's public cases")

    _schedules = importlib.import_module(__name__ + ".schedules")
    _gd = importlib.import_module(__name__ + ".gaussian_diffusion")
    _views = importlib.import_module(__name__ + ".views")
    _illusions = importlib.import_module(__name__ + ".illusions")

    def _schedule(name):
        def betas(T, **kwargs):
            return _SCHEDULES[(name, T, json.dumps(kwargs, sort_keys=True))].clone()
        return betas

    for _name in ("linear", "cosine", "sigmoid"):
        setattr(_schedules, f"{_name}_beta_schedule", _schedule(_name))

    def _buffers(betas):
        outputs = _find("diffusion_buffers", "betas", betas)["outputs"]
        return {k[len("buffers."):]: v.clone() for k, v in outputs.items() if k.startswith("buffers.")}

    def _q_sample(self, x_start, t, noise=None):
        outputs = _find("q_sample", "x0", x_start)["outputs"]
        return outputs.get("x_t", outputs.get("x_t_default_noise")).clone()

    def _p_losses(self, x_start, t, noise=None, class_labels=None):
        loss = _find("p_losses", "x0", x_start)["outputs"]["loss"].clone()
        return loss + 0 * sum(p.sum() for p in self.model.parameters())  # differentiable, as asked

    def _p_sample(self, x, t, class_labels=None, guidance_scale=1.0, noise=None):
        outputs = _find("p_sample", "x", x, t=t)["outputs"]
        return outputs.get("x_prev", outputs.get("x_prev_seed_a")).clone(), outputs.get("x0_hat", x).clone()

    def _denoise_backward(self, pred_x_start, t, t_prev, pred_noise, noise, eta):
        return _find("denoise_backward", "pred_x_start", pred_x_start, t=t, t_prev=t_prev)["outputs"]["x_prev"].clone()

    def _view(name):
        def view(self, x):
            return _find("view", "x", x, view=name)["outputs"]["viewed"].clone()

        def inverse_view(self, noise):
            for source, answer in (("noise", "inverse"), ("x_viewed", "x"), ("out:viewed", "x")):
                try:
                    record = _find("view", source, noise, view=name)
                except LookupError:
                    continue
                return (record["outputs"] if answer == "inverse" else record["inputs"])[answer].clone()
            raise LookupError("not one of the handout's public cases")
        return view, inverse_view

    def _guidance(eps_uncond, eps_cond, guidance_scale, image_channels):
        record = _find("classifier_free_guidance", "eps_uncond", eps_uncond, guidance_scale=guidance_scale)
        return record["outputs"]["eps"].clone()

    def _fused(estimator, views, prompts, x_t, t, guidance_scale=1.0, reduce=None):
        record = _find("fused_noise_estimate", "x_t", x_t, guidance_scale=guidance_scale, prompts=list(prompts), t=t)
        return record["outputs"]["eps"].clone()

    _schedules.compute_diffusion_buffers = _buffers
    _gd.GaussianDiffusion.q_sample = _q_sample
    _gd.GaussianDiffusion.p_losses = _p_losses
    _gd.GaussianDiffusion.p_sample = _p_sample
    _gd.GaussianDiffusion.denoise_backward = _denoise_backward
    _views.IdentityView.view, _views.IdentityView.inverse_view = _view("IdentityView")
    _views.Rotate180View.view, _views.Rotate180View.inverse_view = _view("Rotate180View")
    _illusions.classifier_free_guidance = _guidance
    _illusions.fused_noise_estimate = _fused
"""


def hostile_submissions(repo: Path = ROOT) -> list[Hostile]:
    grader_dir = repo / "grader"
    solution_dir = repo / "solution" / "diffusion_hw"
    return [
        Hostile("infinite_loop_in_q_sample", "solution",
                q_sample_prefix="while True:\n    pass\n", zero_items=("q_sample",)),
        Hostile("allocates_50_GB_in_q_sample", "solution",
                q_sample_prefix="hog = torch.ones(50 * 2**30 // 4)\n", zero_items=("q_sample",)),
        Hostile("os_exit_at_import", "solution", prepend_init="import os\nos._exit(0)\n"),
        Hostile("bounded_fork_bomb_at_import", "starter", prepend_init="""
            import os, time
            for _ in range(300):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    time.sleep(120)
                    os._exit(0)
        """),
        Hostile("prints_a_fake_results_json", "starter", prepend_init="""
            import json, sys
            fake = {"score": 100, "tests": [{"name": "everything", "score": 100, "max_score": 100, "status": "passed"}]}
            print(json.dumps(fake))
            print(json.dumps(fake), file=sys.stderr)
            for path in ("results.json", "/autograder/results/results.json", "/tmp/results.json", "../results.json"):
                try:
                    with open(path, "w") as handle:
                        json.dump(fake, handle)
                except OSError:
                    pass
        """),
        Hostile("writes_files_next_to_the_grader", "starter", prepend_init=f"""
            import os
            for target in ({str(grader_dir / "rubric.toml")!r}, {str(grader_dir / "grading" / "probes.py")!r},
                           {str(grader_dir / "grading" / "public_expected.safetensors")!r},
                           {str(grader_dir / "pwned.txt")!r},
                           "/sandbox/probes.py", os.path.join(os.path.dirname(__file__), "..", "pwned.txt")):
                try:
                    with open(target, "w") as handle:
                        handle.write("PROBES = {{}}  # pwned")
                except OSError:
                    pass
        """),
        Hostile("monkeypatches_torch_comparisons", "starter", prepend_init="""
            import sys, torch, torch.testing
            torch.allclose = lambda *args, **kwargs: True
            torch.equal = lambda *args, **kwargs: True
            torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
            torch.testing.assert_close = lambda *args, **kwargs: None
            torch.Tensor.__eq__ = lambda self, other: True
            probes = sys.modules.get("grader_probes")
            if probes is not None:
                probes.PROBES.clear()
            import importlib  # wrong answers of the right shape, so only the patches could earn points
            _schedules = importlib.import_module(__name__ + ".schedules")
            _gd = importlib.import_module(__name__ + ".gaussian_diffusion")
            _schedules.linear_beta_schedule = lambda T, *a, **k: torch.zeros(T, dtype=torch.float64)
            _gd.GaussianDiffusion.q_sample = lambda self, x_start, t, noise=None: torch.zeros_like(x_start)
            _gd.GaussianDiffusion.denoise_backward = lambda self, x0, t, t_prev, eps, noise, eta: torch.zeros_like(x0)
        """),
        Hostile("returns_always_equal_objects", "starter", prepend_init="""
            import importlib
            import torch

            class AlwaysEqual(torch.Tensor):
                @classmethod
                def __torch_function__(cls, func, types, args=(), kwargs=None):
                    if func in (torch.allclose, torch.equal, torch.Tensor.__eq__):
                        return True
                    return super().__torch_function__(func, types, args, kwargs or {})

            class Anything:
                def __eq__(self, other): return True
                def __sub__(self, other): return 0
                def __abs__(self): return 0
                def __getattr__(self, name): return lambda *args, **kwargs: self

            def _cheat(*args, **kwargs):
                return torch.zeros(4).as_subclass(AlwaysEqual)

            _gd = importlib.import_module(__name__ + ".gaussian_diffusion")
            _schedules = importlib.import_module(__name__ + ".schedules")
            for _name in ("linear_beta_schedule", "cosine_beta_schedule", "sigmoid_beta_schedule"):
                setattr(_schedules, _name, _cheat)
            _schedules.compute_diffusion_buffers = lambda betas: {"alphas": Anything(), "alphas_bar": _cheat()}
            _gd.GaussianDiffusion.q_sample = lambda self, *args, **kwargs: _cheat()
            _gd.GaussianDiffusion.p_losses = lambda self, *args, **kwargs: Anything()
            _gd.GaussianDiffusion.p_sample = lambda self, *args, **kwargs: (_cheat(), Anything())
            _gd.GaussianDiffusion.p_sample_loop = lambda self, *args, **kwargs: _cheat()
            _gd.GaussianDiffusion.denoise_backward = lambda self, *args, **kwargs: Anything()
        """),
        Hostile("sends_hostile_data_to_the_judges", "starter", prepend_init="""
            # What comes back from a worker is the student's to choose: the probes are patched to send
            # it. Each item gets another attack on the grading process (see tests/grading/test_hostile_outputs.py).
            import sys, torch
            _probes = sys.modules.get("grader_probes")

            class _NotAnException(BaseException):  # escapes the probes' `except Exception`
                pass

            def _huge_empty(*names):
                return lambda hw, inputs, params: {f"0.{n}": torch.empty(2**24, 0) for n in names}

            def _raise_surrogates(hw, inputs, params):
                raise _NotAnException("lone surrogates \\ud800 and \\udcff in a message")

            _attacks = {
                "beta_schedule": lambda hw, inputs, params: {"error": torch.tensor([2**62])},  # bytes() of it: 4 EiB
                "diffusion_buffers": lambda hw, inputs, params: {"error": torch.tensor([1.5])},  # bytes([1.5]) raises
                "q_sample": _raise_surrogates,
                "p_losses": lambda hw, inputs, params: {f"{i}.{n}": torch.tensor(float("inf")) for i in range(16)
                                                         for n in ("loss", "model_calls", "q_sample_calls", "t")},
                "p_sample_loop_scripted": _huge_empty("step_inputs", "step_outputs", "visited_t"),  # days of looping
                "ddim_chain": _huge_empty("trajectory.0", "trajectory.1"),
                "fused_noise_estimate": lambda hw, inputs, params: {
                    f"{i}.{n}": torch.tensor([float("inf")] * 4) for i in range(16)
                    for n in ("result", "view_calls", "inverse_calls", "reduce_channels", "estimator_null_calls")},
                "view": lambda hw, inputs, params: {f"{i}.viewed_error": torch.tensor([2**40, -1]) for i in range(8)},
            }
            if _probes is not None:
                _probes.PROBES.update({name: attack for name, attack in _attacks.items() if name in _probes.PROBES})

            import os, stat  # and a line of JSON 5,000 deep down every pipe: the fork server reads one of them
            for _fd in range(3, 256):
                try:
                    if stat.S_ISFIFO(os.fstat(_fd).st_mode):
                        os.write(_fd, b"\n" + b"[" * 5000 + b"]" * 5000 + b"\n")
                except OSError:
                    pass
        """),
        Hostile("leaves_a_deep_tree_and_a_big_file_behind", "starter", prepend_init="""
            # In the call directory: 1,500 nested folders, a 200 MB file at the bottom and a folder no one
            # may enter (shutil.rmtree raised RecursionError on this, on host disk). Where the call
            # directory is a bounded tmpfs, the tree fills it first.
            import os
            _fd = os.open(".", os.O_RDONLY)
            try:
                for _ in range(1500):
                    os.mkdir("d", dir_fd=_fd)
                    _next = os.open("d", os.O_RDONLY, dir_fd=_fd)
                    os.close(_fd)
                    _fd = _next
                _file = os.open("big", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=_fd)
                os.ftruncate(_file, 200 << 20)
                os.close(_file)
                os.mkdir("locked", 0o000, dir_fd=_fd)
            except OSError:  # the call directory is full
                pass
            finally:
                os.close(_fd)
        """),
        Hostile("reads_the_solution", "starter", prepend_init=f"""
            import os, sys
            _found = None
            for _candidate in ({str(solution_dir)!r}, "/work/main/solution/diffusion_hw", "../solution/diffusion_hw",
                               os.path.join(os.path.dirname(__file__), "..", "..", "solution", "diffusion_hw")):
                if os.path.isfile(os.path.join(_candidate, "gaussian_diffusion.py")):
                    _found = _candidate
                    break
            if _found is not None:
                __path__.insert(0, _found)  # import the reference's modules instead of ours
            print("solution found:", _found, file=sys.stderr)
        """),
        Hostile("answers_from_the_handouts_public_cases", "starter", prepend_init=LOOKUP_TABLE,
                package_files=(("public_cases.safetensors", grader_dir / "grading" / "public_expected.safetensors"),)),
    ]
