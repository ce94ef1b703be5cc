"""Which torch device the neural engines run on: the DEVICE setting (auto | cpu | cuda | mps).

Every torch engine (the demucs family in `separation.neural`, the Spleeter model) asks
`resolve_device(settings.device)` once when it is built and records the answer in the job result
(`"device": "cpu"`). `auto` is CUDA when torch sees a CUDA GPU, else Apple's MPS when available,
else the CPU: with the pinned CPU build of torch that is always the CPU, the tested default.

An explicit `cuda` or `mps` that this machine cannot give is an operator's mistake, not a reason
to run something else quietly: the server refuses to start (`check_startup`, with the sentence
below) and a job that gets there anyway (the CLI, a Celery worker on another machine) fails with
the same sentence. Nothing here imports torch at module level.
"""

from __future__ import annotations

from burntbeats.jobs.context import JobError
from burntbeats.settings import DEVICES


class DeviceUnavailable(JobError):
    """DEVICE names an accelerator this machine does not have; the message says what to do."""


def normalise(requested: str) -> str:
    value = str(requested or "auto").strip().lower()
    if value not in DEVICES:
        raise ValueError(f"DEVICE must be one of {', '.join(DEVICES)} (got {requested!r})")
    return value


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(requested: str, torch=None) -> str:
    """'cpu', 'cuda' or 'mps' for a DEVICE value; DeviceUnavailable when an explicit one is absent."""
    value = normalise(requested)
    if value == "cpu":
        return "cpu"
    if torch is None:
        try:
            import torch
        except ImportError:
            if value == "auto":
                return "cpu"
            raise DeviceUnavailable(
                f"DEVICE={value}, but torch is not installed (install the neural extra: "
                "pip install 'burntbeats[neural]' with a torch build for that device), or set DEVICE=auto or cpu."
            ) from None
    cuda = bool(torch.cuda.is_available())
    if value == "auto":
        return "cuda" if cuda else "mps" if _mps_available(torch) else "cpu"
    if value == "cuda" and not cuda:
        why = ("this torch build has no CUDA support" if getattr(torch.version, "cuda", None) is None
               else "torch finds no CUDA GPU (check the driver and CUDA_VISIBLE_DEVICES)")
        raise DeviceUnavailable(
            f"DEVICE=cuda, but {why} (torch {torch.__version__}); set DEVICE=auto or DEVICE=cpu, "
            "or install a CUDA build of torch.")
    if value == "mps" and not _mps_available(torch):
        raise DeviceUnavailable(
            f"DEVICE=mps, but Apple's Metal (MPS) backend is not available here (torch {torch.__version__}); "
            "set DEVICE=auto or DEVICE=cpu.")
    return value


def check_startup(requested: str) -> None:
    """At server start-up: an explicit accelerator that is absent stops the server with the sentence.
    auto and cpu cost nothing here (torch is not imported in the API process for them)."""
    if normalise(requested) in ("cuda", "mps"):
        resolve_device(requested)
