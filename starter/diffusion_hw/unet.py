"""The noise-prediction network: a time- (and optionally class-) conditioned U-Net.

Mostly given code; the timestep embedding (SinusoidalPosEmb.forward) and the conditioning of a residual
block (ResnetBlock.forward) are TODO blocks where the homework asks for them. It follows
lucidrains/denoising-diffusion-pytorch's `Unet`:

    x (B, C, H, W) --init_conv 7x7--> (B, dim, H, W) -------------------------------------.
      down stage i (i = 0 .. L-1), at resolution H / 2**i:                                  |
        ResnetBlock, ResnetBlock, attention, then Downsample (a 3x3 conv at the last stage)  |
      middle, at resolution H / 2**(L-1): ResnetBlock, full attention, ResnetBlock          | skips
      up stage i (reversed): concat skip, ResnetBlock, concat skip, ResnetBlock,            |
        attention, then Upsample (a 3x3 conv at the last stage)                             |
    concat <-------------------------------------------------------------------------------'
      --ResnetBlock--> (B, dim, H, W) --1x1 conv--> (B, C, H, W)

with L = len(dim_mults) stages of widths dim * dim_mults[i]. Attention is linear (cost O(H W)) at
every stage but the lowest resolution, which gets full softmax attention (cost O((H W)**2)).

Conditioning: the timestep t becomes a sinusoidal embedding, then an MLP, giving a vector of size
time_dim = 4 dim per sample; every ResnetBlock turns it into a per-channel scale and shift
(x <- x (1 + scale) + shift, after its first GroupNorm). A class-conditional U-Net adds a learned
class embedding to that vector; the extra index `num_classes` is the null class ("no class") that
classifier-free guidance trains with and samples against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .helpers import default, exists


def _cast_tuple(value, length: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * length


# ---------------------------------------------------------------------------------- embeddings


class SinusoidalPosEmb(nn.Module):
    """Transformer-style timestep embedding (Vaswani et al. 2017; Ho et al. 2020, appendix B).

        freq_k   = theta ** (-k / (half - 1))              k = 0 .. half-1,  half = dim // 2
        emb(t)   = [sin(t freq_0), ..., sin(t freq_{half-1}), cos(t freq_0), ..., cos(t freq_{half-1})]

    t: (B,) timesteps (int or float); returns (B, dim) float32. A network cannot read an integer t well;
    these dim numbers, slow and fast waves of t, let nearby timesteps get nearby embeddings and still
    tell 0 from T-1 apart.
    """

    def __init__(self, dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"the sinusoidal embedding needs an even dim >= 4, got {dim}")
        self.dim = dim
        self.theta = theta

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """The embedding of each timestep:

            half   = dim // 2
            freq_k = theta ** (-k / (half - 1)) = exp(-k log(theta) / (half - 1))      k = 0 .. half-1
            emb    = cat([sin(t_b freq_k) for k], [cos(t_b freq_k) for k])           sines first, then cosines

        Args:
            t: (B,) timesteps, int64 or float (a float t, e.g. t / T, is embedded as it is).
        Returns:
            (B, dim) float32 on t's device: row b is the embedding of t[b]; freq_0 = 1 and the last
            frequency is 1 / theta. t is left as it is.
        Hint: build k with torch.arange(half, device=t.device) and compute in float32 (t.float()).
        """
        half = self.dim // 2
        scale = math.log(self.theta) / (half - 1)
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -scale)  # (half,)
        args = t.float()[:, None] * freqs[None, :]  # (B, half)
        return torch.cat((args.sin(), args.cos()), dim=-1)  # (B, dim)


# ---------------------------------------------------------------------------------- resolution changes


class Downsample(nn.Module):
    """Halve H and W without losing pixels: space-to-depth, then a 1x1 conv.

    (B, C, H, W) --pixel_unshuffle(2)--> (B, 4 C, H/2, W/2) --conv 1x1--> (B, dim_out, H/2, W/2)
    """

    def __init__(self, dim: int, dim_out: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim * 4, default(dim_out, dim), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pixel_unshuffle(x, 2))


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsampling, then a 3x3 conv.

    (B, C, H, W) --> (B, C, 2H, 2W) --conv 3x3--> (B, dim_out, 2H, 2W)
    """

    def __init__(self, dim: int, dim_out: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, default(dim_out, dim), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


# ---------------------------------------------------------------------------------- residual blocks


class Block(nn.Module):
    """conv 3x3 -> GroupNorm -> (optional) x (1 + scale) + shift -> SiLU -> dropout."""

    def __init__(self, dim: int, dim_out: int, groups: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, dim_out)
        self.act = nn.SiLU()
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        x = self.norm(self.proj(x))  # (B, dim_out, H, W)
        if exists(scale_shift):
            scale, shift = scale_shift  # each (B, dim_out, 1, 1)
            x = x * (scale + 1) + shift
        return self.dropout(self.act(x))


class ResnetBlock(nn.Module):
    """Two Blocks with a residual connection; the embedding sets the first Block's scale and shift.

        scale, shift = Linear(SiLU(emb)).chunk(2)            each (B, dim_out, 1, 1)
        h            = Block2(Block1(x, (scale, shift)))
        out          = h + res_conv(x)                       res_conv is 1x1 when dim != dim_out
    """

    def __init__(
        self, dim: int, dim_out: int, *, time_emb_dim: int | None = None, groups: int = 8,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.mlp = (
            nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, dim_out * 2)) if exists(time_emb_dim) else None
        )
        self.block1 = Block(dim, dim_out, groups=groups, dropout=dropout)
        self.block2 = Block(dim_out, dim_out, groups=groups)
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        """The block, conditioned on the embedding (FiLM: a per-channel scale and shift):

            scale, shift = split(self.mlp(emb), 2 along the channels)   each (B, dim_out), as (B, dim_out, 1, 1)
            h            = self.block1(x, (scale, shift))                conv, GroupNorm, h (1 + scale) + shift, SiLU
            h            = self.block2(h)                                no conditioning
            out          = h + self.res_conv(x)                          the residual (1x1 conv if dim != dim_out)

        self.mlp is SiLU then Linear(time_emb_dim, 2 dim_out): its first dim_out outputs are the scale, the
        last dim_out the shift. Without an embedding (emb None, or a block built without time_emb_dim,
        self.mlp None) block1 gets no scale and shift.

        Args:
            x: (B, dim, H, W).
            emb: (B, time_emb_dim), the time (plus class) embedding of each sample, or None.
        Returns:
            (B, dim_out, H, W) in x's dtype and on its device; x and emb are left as they are.
        Hint: `[:, :, None, None]` turns (B, 2 dim_out) into (B, 2 dim_out, 1, 1), which broadcasts over H and W.
        """
        scale_shift = None
        if exists(self.mlp) and exists(emb):
            scale_shift = self.mlp(emb)[:, :, None, None].chunk(2, dim=1)  # 2 x (B, dim_out, 1, 1)
        h = self.block1(x, scale_shift)
        h = self.block2(h)
        return h + self.res_conv(x)


# ---------------------------------------------------------------------------------- attention


class LinearAttention(nn.Module):
    """Linear attention (Shen et al. 2021, "Efficient Attention"): O(N) in the N = H W pixels.

        q = softmax over the d features, k = softmax over the N positions, both per head
        context = k v^T                      (B, heads, d, d)
        out     = context^T q                (B, heads, d, N)

    The softmaxes replace softmax(q^T k) so that k v^T can be formed first. Input and output are
    (B, dim, H, W); the caller adds the residual.
    """

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32, groups: int = 1) -> None:
        super().__init__()
        self.scale = dim_head**-0.5
        self.heads = heads
        hidden = dim_head * heads
        self.norm = nn.GroupNorm(groups, dim)
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, dim, 1), nn.GroupNorm(groups, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        qkv = self.to_qkv(self.norm(x)).chunk(3, dim=1)  # 3 x (B, heads * d, H, W)
        q, k, v = (z.reshape(b, self.heads, -1, h * w) for z in qkv)  # each (B, heads, d, N)
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)  # (B, heads, d, d)
        out = torch.einsum("bhde,bhdn->bhen", context, q)  # (B, heads, d, N)
        return self.to_out(out.reshape(b, -1, h, w))  # (B, dim, H, W)


class Attention(nn.Module):
    """Full multi-head softmax self-attention over the N = H W pixels: O(N**2), so lowest resolution only.

        out = softmax(q k^T / sqrt(d)) v     per head, q, k, v: (B, heads, N, d)
    """

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32, groups: int = 1) -> None:
        super().__init__()
        self.heads = heads
        hidden = dim_head * heads
        self.norm = nn.GroupNorm(groups, dim)
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        qkv = self.to_qkv(self.norm(x)).chunk(3, dim=1)  # 3 x (B, heads * d, H, W)
        q, k, v = (z.reshape(b, self.heads, -1, h * w).transpose(-1, -2) for z in qkv)  # (B, heads, N, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d)
        return self.to_out(out.transpose(-1, -2).reshape(b, -1, h, w))  # (B, dim, H, W)


# ---------------------------------------------------------------------------------- the U-Net


class Unet(nn.Module):
    """A time-conditioned U-Net for 2D images, optionally class-conditional.

    Args:
        dim: base width (e.g. 64); stage i has dim * dim_mults[i] channels.
        dim_mults: width multipliers, one per resolution; L = len(dim_mults) stages, so images are
            downsampled L - 1 times and H and W must be multiples of 2 ** (L - 1).
        channels: image channels C (3 for RGB, 1 for greyscale); input and output are (B, C, H, W).
        num_classes: None for an unconditional model; an int K for a class-conditional one with
            labels 0 .. K-1, plus the null class K ("no class", for classifier-free guidance).
        resnet_block_groups: GroupNorm groups in the ResnetBlocks; must divide dim * every mult.
        attn_dim_head, attn_heads: size and number of attention heads (an int, or one per stage).
        full_attn: per stage, True for full softmax attention, False for linear attention. Default:
            full attention only at the last (lowest-resolution) stage. The middle always uses full.
        dropout: dropout inside the ResnetBlocks.
        sinusoidal_pos_emb_theta: the base of the timestep embedding's frequencies.

    Sizes: Unet() (dim 64, mults (1, 2, 4, 8)) has 35.7M parameters, like lucidrains'; the CPU-sized
    Unet(dim=16, dim_mults=(1, 2, 2)) has 0.40M. Attention keeps heads * dim_head = 128 channels
    whatever dim is, which dominates small models: attn_dim_head=8 halves a dim-16 step on a CPU.

    forward(x, time, class_labels=None):
        x: (B, C, H, W) float; time: (B,) int64 timesteps (a scalar is broadcast to the batch);
        class_labels: (B,) int64 in 0 .. num_classes, where num_classes is the null class; None
        means "all null" for a conditional model and is the only sensible value for an
        unconditional one (which ignores it). Returns (B, C, H, W).
    """

    def __init__(
        self,
        dim: int = 64,
        dim_mults: Sequence[int] = (1, 2, 4, 8),
        channels: int = 3,
        *,
        num_classes: int | None = None,
        init_dim: int | None = None,
        out_dim: int | None = None,
        resnet_block_groups: int = 8,
        attn_dim_head: int | Sequence[int] = 32,
        attn_heads: int | Sequence[int] = 4,
        full_attn: bool | Sequence[bool] | None = None,
        dropout: float = 0.0,
        sinusoidal_pos_emb_theta: float = 10000.0,
    ) -> None:
        super().__init__()
        dim_mults = tuple(int(m) for m in dim_mults)
        num_stages = len(dim_mults)
        if num_stages < 1 or any(m < 1 for m in dim_mults):
            raise ValueError(f"dim_mults must be a non-empty sequence of positive ints, got {dim_mults!r}")
        if num_classes is not None and (isinstance(num_classes, bool) or int(num_classes) < 1):
            raise ValueError(f"num_classes must be None (unconditional) or an int >= 1, got {num_classes!r}")
        init_dim = default(init_dim, dim)
        dims = [init_dim, *(dim * m for m in dim_mults)]
        bad = sorted({d for d in dims if d % resnet_block_groups})
        if bad:
            raise ValueError(
                f"resnet_block_groups={resnet_block_groups} must divide every stage width, but "
                f"{bad} (from dim={dim}, dim_mults={dim_mults}) are not multiples of it: pick a dim "
                f"that is a multiple of {resnet_block_groups} or lower resnet_block_groups"
            )
        if full_attn is None:
            full_attn = (False,) * (num_stages - 1) + (True,)
        full_attn = _cast_tuple(full_attn, num_stages)
        attn_heads = _cast_tuple(attn_heads, num_stages)
        attn_dim_head = _cast_tuple(attn_dim_head, num_stages)
        for name, value in (("full_attn", full_attn), ("attn_heads", attn_heads), ("attn_dim_head", attn_dim_head)):
            if len(value) != num_stages:
                raise ValueError(f"{name} has {len(value)} entries but dim_mults has {num_stages}: give one per stage")

        # kept so that a checkpoint can rebuild the same network: Unet(**unet.config)
        self.config = {
            "dim": dim, "dim_mults": dim_mults, "channels": channels, "num_classes": num_classes,
            "init_dim": init_dim, "out_dim": out_dim, "resnet_block_groups": resnet_block_groups,
            "attn_dim_head": attn_dim_head, "attn_heads": attn_heads, "full_attn": full_attn,
            "dropout": dropout, "sinusoidal_pos_emb_theta": sinusoidal_pos_emb_theta,
        }
        self.channels = channels
        self.num_classes = None if num_classes is None else int(num_classes)
        self.out_dim = default(out_dim, channels)
        self.dim_mults = dim_mults

        # time (and class) embedding: (B,) -> (B, time_dim)
        time_dim = dim * 4
        self.time_mlp = nn.Sequential(
            SinusoidalPosEmb(dim, theta=sinusoidal_pos_emb_theta),
            nn.Linear(dim, time_dim),
            nn.GELU(),
            nn.Linear(time_dim, time_dim),
        )
        # index num_classes is the null class
        self.classes_emb = nn.Embedding(self.num_classes + 1, time_dim) if exists(self.num_classes) else None

        self.init_conv = nn.Conv2d(channels, init_dim, 7, padding=3)
        resnet_block = lambda d_in, d_out: ResnetBlock(  # noqa: E731
            d_in, d_out, time_emb_dim=time_dim, groups=resnet_block_groups, dropout=dropout
        )

        def attention(d: int, full: bool, heads: int, dim_head: int) -> nn.Module:
            return (Attention if full else LinearAttention)(d, heads=heads, dim_head=dim_head)

        in_out = list(zip(dims[:-1], dims[1:]))  # [(init_dim, dim*m0), (dim*m0, dim*m1), ...]
        self.downs = nn.ModuleList()
        for i, ((d_in, d_out), full, heads, dim_head) in enumerate(zip(in_out, full_attn, attn_heads, attn_dim_head)):
            is_last = i == num_stages - 1
            self.downs.append(nn.ModuleList([
                resnet_block(d_in, d_in),
                resnet_block(d_in, d_in),
                attention(d_in, full, heads, dim_head),
                Downsample(d_in, d_out) if not is_last else nn.Conv2d(d_in, d_out, 3, padding=1),
            ]))

        mid_dim = dims[-1]
        self.mid_block1 = resnet_block(mid_dim, mid_dim)
        self.mid_attn = Attention(mid_dim, heads=attn_heads[-1], dim_head=attn_dim_head[-1])
        self.mid_block2 = resnet_block(mid_dim, mid_dim)

        self.ups = nn.ModuleList()
        stages_reversed = list(zip(in_out, full_attn, attn_heads, attn_dim_head))[::-1]
        for i, ((d_in, d_out), full, heads, dim_head) in enumerate(stages_reversed):
            is_last = i == num_stages - 1
            self.ups.append(nn.ModuleList([
                resnet_block(d_out + d_in, d_out),
                resnet_block(d_out + d_in, d_out),
                attention(d_out, full, heads, dim_head),
                Upsample(d_out, d_in) if not is_last else nn.Conv2d(d_out, d_in, 3, padding=1),
            ]))

        self.final_res_block = resnet_block(init_dim * 2, init_dim)
        self.final_conv = nn.Conv2d(init_dim, self.out_dim, 1)

    @property
    def downsample_factor(self) -> int:
        """H and W must be multiples of this: 2 ** (len(dim_mults) - 1)."""
        return 2 ** (len(self.dim_mults) - 1)

    def _check_inputs(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"Unet expects images (B, C, H, W), got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        if c != self.channels:
            raise ValueError(
                f"the images have {c} channels but the Unet was built with channels={self.channels}: "
                f"build Unet(channels={c}) or convert the images"
            )
        factor = self.downsample_factor
        if h % factor or w % factor:
            examples = ", ".join(str(factor * k) for k in range(1, 5))
            raise ValueError(
                f"image size {h}x{w} does not work with dim_mults={self.dim_mults}: the Unet halves the "
                f"resolution {len(self.dim_mults) - 1} times, so H and W must be multiples of "
                f"2**(len(dim_mults) - 1) = {factor} (e.g. {examples}); resize the images or use "
                f"fewer dim_mults"
            )
        time = torch.as_tensor(time, device=x.device)
        if time.ndim == 0:
            time = time.expand(b)
        if time.shape != (b,):
            raise ValueError(f"time must have shape (B,) = ({b},), one timestep per image, got {tuple(time.shape)}")
        return time

    def _class_embedding(
        self, class_labels: torch.Tensor | None, batch: int, device: torch.device
    ) -> torch.Tensor | None:
        if not exists(self.classes_emb):
            return None  # an unconditional model ignores class_labels
        if not exists(class_labels):
            class_labels = torch.full((batch,), self.num_classes, device=device, dtype=torch.long)
        class_labels = torch.as_tensor(class_labels, device=device)
        if class_labels.shape != (batch,) or class_labels.is_floating_point():
            raise ValueError(
                f"class_labels must be an int64 tensor of shape (B,) = ({batch},), got "
                f"{class_labels.dtype} of shape {tuple(class_labels.shape)}"
            )
        if bool(((class_labels < 0) | (class_labels > self.num_classes)).any()):
            raise ValueError(
                f"class_labels must be in 0 .. {self.num_classes - 1} (or {self.num_classes}, the null "
                f"class), got values from {int(class_labels.min())} to {int(class_labels.max())}"
            )
        return self.classes_emb(class_labels.long())  # (B, time_dim)

    def forward(
        self, x: torch.Tensor, time: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        time = self._check_inputs(x, time)
        emb = self.time_mlp(time)  # (B, 4 dim)
        class_emb = self._class_embedding(class_labels, x.shape[0], x.device)
        if exists(class_emb):
            emb = emb + class_emb

        x = self.init_conv(x)  # (B, init_dim, H, W)
        r = x.clone()
        skips = []
        for block1, block2, attn, downsample in self.downs:
            x = block1(x, emb)
            skips.append(x)
            x = block2(x, emb)
            x = attn(x) + x
            skips.append(x)
            x = downsample(x)  # halves H, W except at the last stage

        x = self.mid_block1(x, emb)
        x = self.mid_attn(x) + x
        x = self.mid_block2(x, emb)

        for block1, block2, attn, upsample in self.ups:
            x = block1(torch.cat((x, skips.pop()), dim=1), emb)
            x = block2(torch.cat((x, skips.pop()), dim=1), emb)
            x = attn(x) + x
            x = upsample(x)  # doubles H, W except at the last stage

        x = self.final_res_block(torch.cat((x, r), dim=1), emb)  # (B, init_dim, H, W)
        return self.final_conv(x)  # (B, out_dim, H, W)
