"""DeepFloyd IF stage I behind the illusion loop's protocols (given code, no TODOs).

DeepFloyd IF (DeepFloyd / Stability AI, 2023) is a pixel-space text-to-image cascade; its stage I,
"DeepFloyd/IF-I-XL-v1.0", denoises 64 x 64 RGB images conditioned on T5-XXL text embeddings
(B, 77, 4096). Its UNet (diffusers' UNet2DConditionModel) returns 6 channels: the noise estimate,
then a per-pixel variance value that its DDPMScheduler (variance_type "learned_range") turns into
the step's noise level. The visual-anagrams paper builds its illusions on it.

Nothing here downloads anything. The weights are gated on the Hugging Face Hub: an instructor
accepts the licence once, downloads them (instructions in IFWeightsMissingError), and points
`load_if_stage1(path)` or the environment variable DIFFUSION_HW_IF_PATH at the folder. Text prompts
need the T5 encoder (the `transformers` package and many GB); alternatively compute the prompt
embeddings once elsewhere and load them with `load_prompt_embeds`, and
load only the UNet and the scheduler with text_encoder=False.

    stage = load_if_stage1("/models/IF-I-XL-v1.0", device="cuda")
    embeds = stage.encode_prompts(["an oil painting of an old man", "an oil painting of people around a campfire", ""])
    image = make_anagram(stage.estimator(embeds), stage.sampler(num_inference_steps=30),
                         "an oil painting of an old man", "an oil painting of people around a campfire",
                         torch.randn(1, 3, 64, 64, device="cuda", dtype=torch.float16), guidance_scale=7.0)

`build_tiny_if_stage1()` builds a randomly initialised model with the same interface (6 output
channels, text-embedding cross-attention, a learned-range DDPMScheduler) for tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .illusions import DiffusersSampler

IF_STAGE1_REPO = "DeepFloyd/IF-I-XL-v1.0"
IF_PATH_ENV = "DIFFUSION_HW_IF_PATH"
IF_IMAGE_SIZE = 64
REQUIRED_FILES = ("model_index.json", "unet/config.json", "scheduler/scheduler_config.json")


class IFWeightsMissingError(FileNotFoundError):
    """DeepFloyd IF's weights are not where they were looked for (they are never downloaded here)."""


def _missing_message(path: Path | None, missing: Sequence[str]) -> str:
    where = f"at {path}" if path is not None else f"(no path given and ${IF_PATH_ENV} is not set)"
    target = path if path is not None else Path("~/models/IF-I-XL-v1.0")
    lacks = f" (missing: {', '.join(missing)})" if missing else ""
    return (
        f"DeepFloyd IF stage I weights not found {where}{lacks}. They are never downloaded at run time. "
        f"The model is gated: log in at https://huggingface.co/{IF_STAGE1_REPO} and accept its licence, "
        f"then on a machine with internet run\n"
        f"    huggingface-cli login\n"
        f"    huggingface-cli download {IF_STAGE1_REPO} --local-dir {target}\n"
        f"(add --include '*.json' '*.txt' '*.model' '*fp16*' to fetch only the float16 files), copy the "
        f"folder here, and pass it as load_if_stage1(path) or set {IF_PATH_ENV}={target}."
    )


def find_if_weights(path: str | os.PathLike | None = None) -> Path:
    """The folder of a downloaded IF stage I (path, else $DIFFUSION_HW_IF_PATH); raises
    IFWeightsMissingError, saying how to get the weights, when it is absent or incomplete."""
    raw = path if path is not None else os.environ.get(IF_PATH_ENV)
    if raw is None:
        raise IFWeightsMissingError(_missing_message(None, []))
    folder = Path(raw).expanduser()
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise IFWeightsMissingError(_missing_message(folder, missing))
    return folder


def _variant(folder: Path, variant: str | None) -> str | None:
    """'auto': fp16 when the folder holds fp16 UNet weights, else the plain (float32) files."""
    if variant != "auto":
        return variant
    return "fp16" if any((folder / "unet").glob("*.fp16.*")) else None


@dataclass
class IFStage1:
    """A loaded (or tiny) IF stage I: its UNet, its scheduler and, with a text encoder, the pipeline."""

    unet: Any
    scheduler: Any
    pipeline: Any | None = None

    @property
    def image_size(self) -> int:
        return int(self.unet.config.sample_size)

    @property
    def channels(self) -> int:
        return int(self.unet.config.in_channels)

    @torch.no_grad()
    def encode_prompts(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        """prompt -> T5 embedding (1, 77, 4096); include "" for the unconditional estimate."""
        if self.pipeline is None or getattr(self.pipeline, "text_encoder", None) is None:
            raise RuntimeError(
                "this IF stage has no text encoder: load it with load_if_stage1(path, text_encoder=True), "
                "or load precomputed embeddings with load_prompt_embeds(file)"
            )
        embeds = {}
        for prompt in dict.fromkeys(prompts):
            embed, _ = self.pipeline.encode_prompt(prompt, do_classifier_free_guidance=False, clean_caption=False)
            embeds[prompt] = embed[:1]
        return embeds

    def estimator(self, prompt_embeds: Mapping[str, torch.Tensor], negative_prompt: str = "") -> IFNoiseEstimator:
        return IFNoiseEstimator(self.unet, prompt_embeds, negative_prompt=negative_prompt, scheduler=self.scheduler)

    def sampler(
        self, num_inference_steps: int | None = None, timesteps: Sequence[int] | None = None,
        generator: torch.Generator | None = None,
    ) -> DiffusersSampler:
        return DiffusersSampler(self.scheduler, num_inference_steps, timesteps, generator)


def load_if_stage1(
    path: str | os.PathLike | None = None, *, text_encoder: bool = True, torch_dtype: torch.dtype = torch.float16,
    variant: str | None = "auto", device: str | torch.device | None = None,
) -> IFStage1:
    """Load DeepFloyd IF stage I from a local folder, offline (local_files_only=True).

    Args:
        path: the downloaded folder (model_index.json, unet/, scheduler/, text_encoder/, tokenizer/);
            default $DIFFUSION_HW_IF_PATH.
        text_encoder: load the whole IFPipeline (T5 encoder included; needs `transformers` and
            `sentencepiece`), so that encode_prompts works; False loads only unet/ and scheduler/.
        torch_dtype: float16 on a GPU; float32 on a CPU.
        variant: "fp16", None (plain files), or "auto" (fp16 when present).
        device: where to move the UNet (and the text encoder).
    Raises:
        IFWeightsMissingError: the folder is absent or incomplete (the message says what to do).
    """
    folder = find_if_weights(path)
    variant = _variant(folder, variant)
    if text_encoder:
        try:
            import transformers  # noqa: F401  (IFPipeline is a placeholder without it)
        except ImportError:
            raise ImportError(
                "loading IF with its T5 text encoder needs `pip install transformers sentencepiece`; or call "
                "load_if_stage1(path, text_encoder=False) and use precomputed prompt embeddings "
                "(load_prompt_embeds)"
            ) from None
        from diffusers import IFPipeline

        pipeline = IFPipeline.from_pretrained(
            folder, local_files_only=True, torch_dtype=torch_dtype, variant=variant,
            safety_checker=None, feature_extractor=None, watermarker=None,
        )
        if device is not None:
            pipeline = pipeline.to(device)
        return IFStage1(pipeline.unet, pipeline.scheduler, pipeline)
    from diffusers import DDPMScheduler, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(
        folder, subfolder="unet", local_files_only=True, torch_dtype=torch_dtype, variant=variant
    )
    scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler", local_files_only=True)
    if device is not None:
        unet = unet.to(device)
    return IFStage1(unet.eval(), scheduler)


def load_prompt_embeds(file: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A torch.save'd dict prompt -> embedding (1, 77, 4096), e.g. prompt_embeds_dict.pth."""
    embeds = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(embeds, Mapping) or not all(isinstance(v, torch.Tensor) for v in embeds.values()):
        raise ValueError(f"{file} does not hold a dict of prompt -> embedding tensor")
    return dict(embeds)


class IFNoiseEstimator:
    """A NoiseEstimator over IF's UNet: prompts are keys of `prompt_embeds` (or embedding tensors).

        estimator(x_t (B, 3, H, W), t, prompt) -> (B, 6, H, W): 3 noise channels, then 3 variance channels

    prompt None is the unconditional estimate, made with the embedding of `negative_prompt` ("" by
    default, as IFPipeline does). The UNet runs in its own dtype; the output comes back in x_t's.

    Args:
        unet: an IF UNet2DConditionModel (or anything called as unet(x, t, encoder_hidden_states=e)
            returning an object with .sample).
        prompt_embeds: prompt -> (1, L, D) or (L, D) text embedding; must include negative_prompt.
        negative_prompt: the key of the unconditional embedding.
        scheduler: when given, its scale_model_input is applied first (the identity for DDPM).
    """

    def __init__(
        self, unet: Any, prompt_embeds: Mapping[str, torch.Tensor], negative_prompt: str = "",
        scheduler: Any | None = None,
    ) -> None:
        if negative_prompt not in prompt_embeds:
            raise KeyError(
                f"prompt_embeds has no entry for the unconditional prompt {negative_prompt!r}: encode it too "
                f"(encode_prompts([..., {negative_prompt!r}]))"
            )
        self.unet = unet
        self.prompt_embeds = dict(prompt_embeds)
        self.negative_prompt = negative_prompt
        self.scheduler = scheduler

    def embedding(self, prompt: Any, batch: int) -> torch.Tensor:
        if isinstance(prompt, torch.Tensor):
            embed = prompt
        else:
            key = self.negative_prompt if prompt is None else prompt
            if key not in self.prompt_embeds:
                known = ", ".join(repr(k) for k in self.prompt_embeds)
                raise KeyError(
                    f"no embedding for prompt {key!r}; known prompts: {known}. Encode it with encode_prompts"
                )
            embed = self.prompt_embeds[key]
        if embed.ndim == 2:
            embed = embed.unsqueeze(0)  # (1, L, D)
        return embed.expand(batch, *embed.shape[1:]) if embed.shape[0] == 1 else embed

    @torch.no_grad()
    def __call__(self, x_t: torch.Tensor, t: int, prompt: Any | None) -> torch.Tensor:
        dtype = self.unet.dtype
        model_input = self.scheduler.scale_model_input(x_t, t) if self.scheduler is not None else x_t
        embed = self.embedding(prompt, x_t.shape[0]).to(device=x_t.device, dtype=dtype)
        out = self.unet(model_input.to(dtype), t, encoder_hidden_states=embed, return_dict=False)[0]
        return out.to(x_t.dtype)  # (B, 2C, H, W)


def build_tiny_if_stage1(sample_size: int = 16, embed_dim: int = 32, seed: int = 0) -> IFStage1:
    """A randomly initialised IF-shaped stage I (no download): 3 -> 6 channels, text cross-attention
    with embeddings (B, L, embed_dim), and IF's scheduler (cosine betas, learned-range variance,
    dynamic thresholding). The blocks are IF's (ResnetDownsampleBlock2D, SimpleCrossAttn...), the
    widths tiny (diffusers' own IF test configuration)."""
    from diffusers import DDPMScheduler, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=sample_size, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        in_channels=3, out_channels=6, cross_attention_dim=embed_dim, encoder_hid_dim=embed_dim,
        attention_head_dim=8, addition_embed_type="text", addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm", resnet_time_scale_shift="scale_shift", act_fn="gelu",
    ).eval()
    scheduler = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", thresholding=True,
        dynamic_thresholding_ratio=0.95, sample_max_value=1.5, prediction_type="epsilon",
        variance_type="learned_range",
    )
    return IFStage1(unet, scheduler)
