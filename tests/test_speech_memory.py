"""A 10-minute recording is enhanced in flat memory (RSS growth measured in a fresh subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MINUTES = 10
SR = 48000
# The whole recording as float32 would be 115 MB (57.6 MB even as 16-bit): a pipeline that
# loaded it, or kept its output in memory, could not stay under this.
MAX_GROWTH_MB = 50

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import numpy as np, soundfile as sf
    from burntbeats.jobs.context import JobContext
    from burntbeats.settings import Settings
    from burntbeats.speech.job import run_enhance
    from burntbeats.speech.synth import make_noise, mix_at_snr, synth_speech

    job_dir, minutes, sr = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    job_dir.mkdir(parents=True, exist_ok=True)
    # 10 minutes made quickly: a 20 s noisy speech clip repeated (the denoiser cannot tell)
    clean = synth_speech(20.0, sr, seed=1)
    clip = mix_at_snr(clean, make_noise("pink", len(clean), sr, seed=1), 10.0)
    with sf.SoundFile(job_dir / "input", "w", samplerate=sr, channels=1, format="WAV", subtype="PCM_16") as f:
        for _ in range(minutes * 3):
            f.write(clip)
    del clean, clip

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024

    settings = Settings(_env_file=None, data_dir=job_dir / "data", speech_workers=2)
    ctx = JobContext(job_id="m", kind="speech.enhance", owner_id="m", params={"engine": "fast"},
                     job_dir=job_dir, input_path=job_dir / "input", settings=settings)
    reports = []
    ctx.report = lambda stage, pct: reports.append((stage, pct))
    import burntbeats.speech.engines, burntbeats.speech.stream, scipy.ndimage, pyloudnorm  # noqa: F401
    baseline = status("VmRSS:")
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
        fh.write("5")
    t = time.monotonic()
    result = run_enhance(ctx)
    print(json.dumps({"baseline": baseline, "peak": status("VmHWM:"), "seconds": time.monotonic() - t,
                      "samples": result["samples"], "workers": result["workers"],
                      "progress_reports": len([r for r in reports if r[0] == "enhancing"])}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak RSS")
def test_ten_minute_file_in_flat_memory(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "job"), str(MINUTES), str(SR)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    growth_mb = (stats["peak"] - stats["baseline"]) / 1e6
    assert stats["samples"] == MINUTES * 60 * SR
    assert stats["workers"] == 2
    assert stats["progress_reports"] >= 10  # progress is reported as it goes
    assert growth_mb < MAX_GROWTH_MB, stats
    out = tmp_path / "job" / "speech"
    assert (out / "enhanced.wav").stat().st_size > MINUTES * 60 * SR * 2  # 16-bit mono, the whole 10 minutes
