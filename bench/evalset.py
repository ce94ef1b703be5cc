"""A seeded multitrack evaluation set for the stem separators, built from MIDI.

    apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng
    .venv/bin/python bench/evalset.py --seed 0 --songs 8               # seeds 0..7 -> bench/.cache/evalset/
    .venv/bin/python bench/evalset.py --seed 100 --songs 8 --seconds 30 --out /tmp/set

Every song is generated from one integer seed (song ``i`` of ``--seed S --songs N`` has
seed ``S + i``), so the tuning set (seeds 0-7) and a held-out set (seeds 100-107) never
share a song. Nothing is downloaded: the sounds are Debian's FluidR3 GM soundfont, played
by the ``fluidsynth`` command line, and espeak-ng's formant voices.

What a seed decides (all with ``numpy.random.default_rng(seed)``):

* tempo 72-150 bpm, key (any of the 12 tonics, major or minor), a 4-chord progression
  (one chord a bar), and the song form: a 1-2 bar intro without voice, then 2-bar
  phrases, each sung, spoken or resting;
* **drums** (GM kit, MIDI channel 10): one of rock / four-on-the-floor / half-time /
  funk / shuffle / bossa patterns, humanised velocities and timing, crashes on phrase
  starts and tom fills at the end of some 4-bar phrases; the kit's own stereo image;
* **bass**: one of the GM basses (programs 32-39) playing the chord roots in one of
  five patterns (eighths, root-fifth, syncopated, long notes, walking), near the centre;
* **other**: a comping part (piano, electric piano, organ or guitar; block chords,
  pulses, off-beats, arpeggios or strums) panned hard to one side, and in most songs a
  second part (strings, pads, brass, vibraphone or harp) panned to the other side;
* **vocals**: a lead line on a voice patch (GM 52 Choir Aahs, 53 Voice Oohs, 54 Synth
  Voice or 85 Lead 6 "voice"), a melody over the key's scale with chord tones on strong
  beats, plus espeak-ng phrases in the phrases the melody leaves free: either spoken
  lines (several voices and languages) or slow chanted syllables ("la la", "oh yeah").
  The vocal stem is made mono and put in both channels: it is exactly centre-panned.

Each stem is its own MIDI file rendered separately (``fluidsynth -ni -F stem.wav -r 44100
FluidR3_GM.sf2 stem.mid``, with the synth's own reverb and chorus), so each stem's ground
truth is exact. Stems are then levelled (random gains around a typical pop balance) and
summed; the mix is scaled so its peak is -1 dBFS (the stems with it), and
``mix == vocals + drums + bass + other`` to float32 precision.

The rendered songs are cached under ``--out`` (default ``bench/.cache/evalset/``, not in
git), one folder per seed with ``mix.wav``, the four stem WAVs (float32, 44.1 kHz stereo)
and ``meta.json``; a folder is re-rendered only if the generator version, the length or
the song description changed.

The MIDI-building part (``build_song``) needs only numpy and pretty_midi; rendering needs
``fluidsynth``, the soundfont and ``espeak-ng``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pretty_midi

GENERATOR_VERSION = 1
SR = 44100
STEMS = ("vocals", "drums", "bass", "other")
SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DEFAULT_OUT = Path(__file__).resolve().parent / ".cache" / "evalset"
VOICE_OUT = Path(__file__).resolve().parent / ".cache" / "evalset-voice"

VOCAL_PROGRAMS = (52, 53, 54, 85)  # Choir Aahs, Voice Oohs, Synth Voice, Lead 6 (voice)
BASS_PROGRAMS = tuple(range(32, 40))
COMP_PROGRAMS = (0, 1, 2, 4, 5, 16, 17, 24, 25, 26, 27, 29)  # pianos, e-pianos, organs, guitars
PAD_PROGRAMS = (48, 49, 50, 61, 88, 89, 11, 46)  # strings, synth strings, brass, pads, vibraphone, harp
DRUM_STYLES = ("rock", "four", "halftime", "funk", "shuffle", "bossa")
BASS_STYLES = ("eighths", "rootfifth", "sync", "long", "walk")
COMP_STYLES = ("block", "pulse", "offbeat", "arp", "strum")

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PROGRESSIONS = {  # scale degrees (0 = tonic), one chord a bar
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (1, 4, 0, 5), (0, 3, 5, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 6, 4)),
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

SPEECH_VOICES = ("en-us", "en", "en+f3", "en+m3", "en+f2", "en-us+f4", "de", "fr", "es", "it", "nl", "pt")
SPOKEN_LINES = (
    "we are burning down the night",
    "hold on, the morning is coming",
    "every light in the city is calling my name",
    "turn it up and let it go",
    "nobody knows where the river goes",
    "I can hear the rhythm in the rain",
    "one more time before the sun comes up",
    "tell me what you want to hear",
    "all the stars are falling down",
    "stay with me until the end",
)
CHANT_LINES = ("la la la la", "oh oh oh yeah", "na na na na na", "hey hey hey", "ooh la la", "yeah yeah yeah")

# The voice-over-music set (`build_voice_song`): the same generated backing, and a vocal stem of
# nothing but espeak-ng speech, phrase after phrase, in these voices with lines in their languages.
VOICE_SET_LINES = {
    "en-us": SPOKEN_LINES,
    "en": SPOKEN_LINES,
    "de": ("wir tanzen heute bis der morgen kommt", "hörst du den regen auf dem dach", "bleib bei mir bis zum ende der nacht"),
    "fr": ("nous dansons jusqu'au bout de la nuit", "écoute la pluie qui tombe sur la ville", "reste avec moi jusqu'au matin"),
    "es": ("bailamos hasta que salga el sol", "escucha la lluvia sobre la ciudad", "quédate conmigo hasta el final"),
    "it": ("balliamo fino al mattino", "ascolta la pioggia sulla città", "resta con me fino alla fine"),
    "pt": ("dançamos até o sol nascer", "escuta a chuva sobre a cidade", "fica comigo até o fim"),
    "nl": ("we dansen tot de ochtend komt", "hoor je de regen op het dak", "blijf bij mij tot het einde"),
}
VOICE_SET_VARIANTS = ("", "+f2", "+f3", "+m3", "+f4", "+m2")  # espeak-ng voice variants (female / male)

# GM drum notes
KICK, STICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
TOM_LO, TOM_MID, TOM_HI, FLOOR_TOM, CRASH, RIDE, SHAKER = 45, 47, 50, 41, 49, 51, 70


@dataclass
class SpeechPhrase:
    """One espeak-ng utterance placed in the vocal stem."""

    text: str
    voice: str
    pitch: int  # espeak -p, 0..99
    speed: int  # espeak -s, words per minute
    start: float  # seconds
    max_len: float  # seconds; longer utterances are faded out there
    gain_db: float
    kind: str  # "spoken" or "chant"


@dataclass
class SongSpec:
    """Everything about one song; `midi[stem]` is the MIDI that renders that stem."""

    seed: int
    seconds: float
    tempo: float
    key: int  # tonic pitch class
    mode: str
    progression: tuple[int, ...]
    drum_style: str
    bass_style: str
    comp_style: str
    programs: dict[str, list[int]]
    pans: dict[str, list[int]]  # MIDI CC10 per instrument of each stem (64 = centre)
    gains_db: dict[str, float]  # relative level of each stem in the mix (vs its RMS)
    vocal_plan: list[str]  # per 2-bar phrase after the intro: "sing", "speak" or "rest"
    intro_bars: int
    speech: list[SpeechPhrase]
    midi: dict[str, pretty_midi.PrettyMIDI] = field(repr=False)

    @property
    def key_name(self) -> str:
        return f"{NOTE_NAMES[self.key]} {self.mode}"

    def describe(self) -> dict:
        """A JSON-able summary (no MIDI objects), stable for a given seed."""
        d = asdict(self)  # deep-copies; MIDI objects are dropped below
        d.pop("midi", None)
        d["key_name"] = self.key_name
        d["notes"] = {stem: sum(len(i.notes) for i in pm.instruments) for stem, pm in self.midi.items()}
        d["generator_version"] = GENERATOR_VERSION
        return d

    def digest(self) -> str:
        """Hash of the song description and of every note: changes if the music changes."""
        h = hashlib.sha256(json.dumps(self.describe(), sort_keys=True, default=str).encode())
        for stem in STEMS:
            for inst in self.midi[stem].instruments:
                h.update(f"{inst.program},{inst.is_drum};".encode())
                for n in inst.notes:
                    h.update(f"{n.pitch},{n.velocity},{n.start:.5f},{n.end:.5f};".encode())
                for c in inst.control_changes:
                    h.update(f"cc{c.number},{c.value},{c.time:.5f};".encode())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------- MIDI building


class _Song:
    """Helpers for one song: timing grid, scale and chords."""

    def __init__(self, rng: np.random.Generator, seconds: float, tempo: float, key: int, mode: str, progression) -> None:
        self.rng = rng
        self.seconds = seconds
        self.tempo = tempo
        self.beat = 60.0 / tempo
        self.bar = 4 * self.beat
        self.n_bars = int(np.ceil(seconds / self.bar))
        self.key = key
        self.scale = SCALES[mode]
        self.progression = progression

    def chord_degree(self, bar: int) -> int:
        return self.progression[bar % len(self.progression)]

    def degree_pitch(self, degree: int, octave_base: int) -> int:
        """MIDI pitch of a scale degree (may be negative or > 6) above octave_base + key."""
        octave, d = divmod(degree, 7)
        return octave_base + self.key + 12 * octave + self.scale[d]

    def chord(self, bar: int, octave_base: int = 48) -> list[int]:
        d = self.chord_degree(bar)
        return [self.degree_pitch(d + i, octave_base) for i in (0, 2, 4)]

    def root(self, bar: int, low: int = 28, high: int = 43) -> int:
        pc = (self.key + self.scale[self.chord_degree(bar)]) % 12
        p = low + (pc - low) % 12
        return p if p <= high else p - 12

    def t(self, bar: int, step: float, steps_per_bar: int = 16) -> float:
        return bar * self.bar + step * self.bar / steps_per_bar

    def note(self, inst: pretty_midi.Instrument, pitch: int, vel: int, start: float, end: float, jitter: float = 0.004) -> None:
        if jitter:
            start += float(self.rng.normal(0.0, jitter))
        start = max(0.0, start)
        end = min(end, self.seconds - 0.05)
        if end - start < 0.02 or start >= self.seconds - 0.1:
            return
        vel = int(np.clip(vel + self.rng.integers(-8, 9), 20, 127))
        inst.notes.append(pretty_midi.Note(velocity=vel, pitch=int(pitch), start=float(start), end=float(end)))


def _controls(inst: pretty_midi.Instrument, pan: int, reverb: int, volume: int = 100) -> None:
    for number, value in ((7, volume), (10, pan), (91, reverb), (93, 0)):
        inst.control_changes.append(pretty_midi.ControlChange(number=number, value=int(value), time=0.0))


def _drums(s: _Song, style: str, fill_prob: float) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    rng = s.rng
    use_ride = rng.random() < 0.25
    top = RIDE if use_ride else HAT
    for bar in range(s.n_bars):
        phrase_pos = bar % 4
        hits: list[tuple[int, float, int]] = []  # (note, step, velocity)
        if style == "shuffle":
            grid = 12  # triplet eighths
            hits += [(KICK, 0, 110), (KICK, 6, 100)] + ([(KICK, 8, 85)] if rng.random() < 0.5 else [])
            hits += [(SNARE, 3, 105), (SNARE, 9, 105)]
            hits += [(top, st, 80 if st % 3 == 0 else 60) for st in (0, 2, 3, 5, 6, 8, 9, 11)]
        else:
            grid = 16
            if style == "rock":
                hits += [(KICK, 0, 112), (KICK, 8, 105)] + ([(KICK, 10, 95)] if rng.random() < 0.6 else [])
                hits += [(SNARE, 4, 110), (SNARE, 12, 110)]
                hits += [(top, st, 85 if st % 4 == 0 else 65) for st in range(0, 16, 2)]
            elif style == "four":
                hits += [(KICK, st, 115) for st in (0, 4, 8, 12)]
                hits += [(CLAP if rng.random() < 0.5 else SNARE, st, 100) for st in (4, 12)]
                hits += [(OPEN_HAT, st, 80) for st in (2, 6, 10, 14)]
                hits += [(HAT, st, 55) for st in range(1, 16, 2)]
            elif style == "halftime":
                hits += [(KICK, 0, 112), (KICK, 10, 100)] + ([(KICK, 3, 85)] if rng.random() < 0.5 else [])
                hits += [(SNARE, 8, 115)]
                hits += [(top, st, 80 if st % 2 == 0 else 55) for st in range(16)]
            elif style == "funk":
                hits += [(KICK, 0, 112), (KICK, 3, 95), (KICK, 10, 105)] + ([(KICK, 7, 90)] if rng.random() < 0.5 else [])
                hits += [(SNARE, 4, 110), (SNARE, 12, 110), (SNARE, 7, 45), (SNARE, 9, 40), (SNARE, 15, 45)]
                hits += [(top, st, 80 if st % 2 == 0 else 55) for st in range(16)]
                if rng.random() < 0.3:
                    hits += [(OPEN_HAT, 14, 75)]
            elif style == "bossa":
                hits += [(KICK, st, 95) for st in (0, 3, 4, 7, 8, 11, 12, 15)]
                hits += [(STICK, st, 90) for st in (0, 3, 6, 10, 13)]
                hits += [(SHAKER if not use_ride else RIDE, st, 70 if st % 2 == 0 else 50) for st in range(16)]
            else:
                raise ValueError(style)
        if phrase_pos == 0 and (bar == 0 or rng.random() < 0.8):
            hits.append((CRASH, 0, 100))
            hits = [h for h in hits if not (h[0] in (HAT, RIDE, OPEN_HAT) and h[1] == 0)]
        if phrase_pos == 3 and rng.random() < fill_prob:
            # a tom fill over the second half of the bar
            start = grid // 2
            hits = [h for h in hits if h[1] < start or h[0] == KICK]
            toms = [TOM_HI, TOM_HI, TOM_MID, TOM_MID, TOM_LO, TOM_LO, FLOOR_TOM, FLOOR_TOM]
            for j, st in enumerate(range(start, grid)):
                hits.append((toms[min(j * len(toms) // max(1, grid - start), len(toms) - 1)], st, 95 + int(rng.integers(0, 20))))
        for note, step, vel in hits:
            start = s.t(bar, step, grid)
            s.note(inst, note, vel, start, start + 0.12, jitter=0.003)
    return inst


def _bass(s: _Song, style: str, program: int) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, name="bass")
    for bar in range(s.n_bars):
        root = s.root(bar)
        fifth = root + 7
        octave = root + 12
        nxt = s.root(bar + 1)
        if style == "eighths":
            pattern = [(st, 2, root) for st in range(0, 16, 2)]
        elif style == "rootfifth":
            pattern = [(0, 6, root), (6, 2, root), (8, 6, fifth), (14, 2, octave if s.rng.random() < 0.5 else fifth)]
        elif style == "sync":
            pattern = [(0, 3, root), (3, 3, root), (6, 2, octave), (10, 2, root), (12, 2, fifth), (14, 2, root)]
        elif style == "long":
            pattern = [(0, 8, root), (8, 6, root if s.rng.random() < 0.6 else fifth)]
        elif style == "walk":
            third = root + (s.scale[2] if s.rng.random() < 0.5 else s.scale[2] + 2)
            approach = nxt - 1 if s.rng.random() < 0.5 else nxt + 2
            pattern = [(0, 4, root), (4, 4, third), (8, 4, fifth), (12, 4, approach)]
        else:
            raise ValueError(style)
        for step, length, pitch in pattern:
            start = s.t(bar, step)
            s.note(inst, pitch, 100, start, start + length * s.bar / 16 * 0.92)
    return inst


def _voicing(chord: list[int], previous: list[int] | None) -> list[int]:
    """The inversion of the chord closest to the previous voicing (smooth voice leading)."""
    options = []
    for inv in range(3):
        v = sorted(p + (12 if i < inv else 0) for i, p in enumerate(chord))
        for shift in (-12, 0, 12):
            w = [p + shift for p in v]
            if 50 <= w[0] and w[-1] <= 79:
                options.append(w)
    if not options:
        return chord
    if previous is None:
        return min(options, key=lambda w: abs(np.mean(w) - 64))
    return min(options, key=lambda w: sum(abs(a - b) for a, b in zip(w, previous)))


def _comp(s: _Song, style: str, program: int) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, name="comp")
    prev = None
    for bar in range(s.n_bars):
        v = _voicing(s.chord(bar), prev)
        prev = v
        if style == "block":
            hits = [(0, 15)] if s.rng.random() < 0.5 else [(0, 7), (8, 7)]
            for st, ln in hits:
                for p in v:
                    s.note(inst, p, 80, s.t(bar, st), s.t(bar, st + ln))
        elif style == "pulse":
            for st in range(0, 16, 2):
                for p in v:
                    s.note(inst, p, 78 if st % 4 == 0 else 68, s.t(bar, st), s.t(bar, st + 1.6))
        elif style == "offbeat":
            for st in (2, 6, 10, 14):
                for p in v:
                    s.note(inst, p, 82, s.t(bar, st), s.t(bar, st + 1.2))
        elif style == "arp":
            seq = v + [v[1] + 12 if v[1] + 12 <= 84 else v[1], v[2]]
            for j, st in enumerate(range(0, 16, 2)):
                s.note(inst, seq[j % len(seq)], 80, s.t(bar, st), s.t(bar, st + 1.9))
        elif style == "strum":
            for st in (0, 4, 6, 10, 12):
                for j, p in enumerate([v[0] - 12] + v):
                    s.note(inst, p, 80, s.t(bar, st) + 0.012 * j, s.t(bar, st + 1.8), jitter=0.0)
        else:
            raise ValueError(style)
    return inst


def _pad(s: _Song, program: int) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, name="pad")
    arpeggiated = program in (11, 46)
    prev = None
    for bar in range(s.n_bars):
        v = _voicing([p + 12 for p in s.chord(bar)], prev)
        prev = v
        if arpeggiated:
            for j, st in enumerate(range(0, 16, 4)):
                s.note(inst, v[j % 3] + (12 if j == 3 else 0), 70, s.t(bar, st), s.t(bar, st + 3.5))
        else:
            for p in v:
                s.note(inst, p, 62, s.t(bar, 0), s.t(bar, 15.5), jitter=0.0)
    return inst


def _melody(s: _Song, program: int, plan: list[str], intro_bars: int) -> pretty_midi.Instrument:
    """The sung lead: in "sing" phrases (2 bars), a scale melody with chord tones on strong beats."""
    inst = pretty_midi.Instrument(program=program, name="lead")
    rng = s.rng
    base = 60 if s.key <= 5 else 48  # tonic between C4 and B4... or F#3..B3 + octave via degrees
    lo_deg, hi_deg = (0, 9) if base == 60 else (4, 13)
    degree = lo_deg + 4
    rhythms = (  # eighth-note lengths of one bar's notes; 0 = rest
        (2, 2, 2, 1, 1), (3, 1, 2, 2), (1, 1, 2, 4), (2, 1, 1, 2, 0, 2), (4, 2, 2), (2, 2, 4), (1, 1, 1, 1, 2, 2), (3, 3, 2),
    )
    for p, what in enumerate(plan):
        if what != "sing":
            continue
        for half in range(2):
            bar = intro_bars + 2 * p + half
            chord_degs = {(s.chord_degree(bar) + i) % 7 for i in (0, 2, 4)}
            rhythm = list(rhythms[int(rng.integers(len(rhythms)))])
            if half == 1:
                rhythm = rhythm[:-1] + [0] if len(rhythm) > 2 else rhythm  # breathe at the phrase end
            pos = 0
            for ln in rhythm:
                if ln and pos < 8:
                    step = int(rng.choice((-2, -1, -1, 1, 1, 2, 0, 3, -3)))
                    degree = int(np.clip(degree + step, lo_deg, hi_deg))
                    if pos % 4 == 0 and degree % 7 not in chord_degs:
                        # strong beat: move to the nearest chord tone
                        for d in (0, 1, -1, 2, -2):
                            if (degree + d) % 7 in chord_degs and lo_deg <= degree + d <= hi_deg:
                                degree += d
                                break
                    pitch = s.degree_pitch(degree, base)
                    start = s.t(bar, 2 * pos)
                    s.note(inst, pitch, 105, start, start + ln * s.bar / 8 * 0.95, jitter=0.006)
                pos += ln if ln else 2
    return inst


def build_song(seed: int, seconds: float = 30.0) -> SongSpec:
    """The whole song for one seed, as MIDI per stem plus the speech plan (no audio)."""
    rng = np.random.default_rng(seed)
    tempo = float(rng.integers(72, 151))
    key = int(rng.integers(12))
    mode = "major" if rng.random() < 0.55 else "minor"
    progs = PROGRESSIONS[mode]
    progression = tuple(progs[int(rng.integers(len(progs)))])
    s = _Song(rng, seconds, tempo, key, mode, progression)

    drum_style = str(rng.choice(DRUM_STYLES))
    bass_style = str(rng.choice(BASS_STYLES))
    comp_style = str(rng.choice(COMP_STYLES))
    vocal_program = int(rng.choice(VOCAL_PROGRAMS))
    bass_program = int(rng.choice(BASS_PROGRAMS))
    comp_program = int(rng.choice(COMP_PROGRAMS))
    pad_program = int(rng.choice(PAD_PROGRAMS)) if rng.random() < 0.75 else None

    intro_bars = int(rng.integers(1, 3))
    n_phrases = max(1, (s.n_bars - intro_bars) // 2)
    plan = []
    for _ in range(n_phrases):
        r = rng.random()
        plan.append("sing" if r < 0.55 else "speak" if r < 0.8 else "rest")
    if "sing" not in plan:
        plan[0] = "sing"
    if "speak" not in plan and len(plan) > 1:
        plan[max(i for i, w in enumerate(plan) if i > 0 and (w != "sing" or plan.count("sing") > 1))] = "speak"

    comp_side = 1 if rng.random() < 0.5 else -1
    pans = {
        "vocals": [64],
        "drums": [int(rng.integers(54, 75))],
        "bass": [int(64 + rng.integers(-14, 15))],
        "other": [int(64 + comp_side * rng.integers(28, 56))] + ([int(64 - comp_side * rng.integers(24, 52))] if pad_program is not None else []),
    }
    reverb = {stem: int(rng.integers(20, 80)) for stem in STEMS}
    reverb["bass"] = int(rng.integers(0, 30))

    insts = {
        "vocals": [_melody(s, vocal_program, plan, intro_bars)],
        "drums": [_drums(s, drum_style, fill_prob=float(rng.uniform(0.3, 0.8)))],
        "bass": [_bass(s, bass_style, bass_program)],
        "other": [_comp(s, comp_style, comp_program)] + ([_pad(s, pad_program)] if pad_program is not None else []),
    }
    midi = {}
    for stem in STEMS:
        pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
        for inst, pan in zip(insts[stem], pans[stem]):
            _controls(inst, pan, reverb[stem])
            inst.notes.sort(key=lambda n: (n.start, n.pitch))
            pm.instruments.append(inst)
        midi[stem] = pm

    speech = []
    for p, what in enumerate(plan):
        if what != "speak":
            continue
        chant = rng.random() < 0.4
        lines = CHANT_LINES if chant else SPOKEN_LINES
        speech.append(
            SpeechPhrase(
                text=str(lines[int(rng.integers(len(lines)))]),
                voice=str(rng.choice(SPEECH_VOICES)),
                pitch=int(rng.integers(55, 90) if chant else rng.integers(25, 75)),
                speed=int(rng.integers(80, 110) if chant else rng.integers(125, 175)),
                start=float(s.t(intro_bars + 2 * p, 0) + rng.uniform(0.0, 0.5) * s.beat),
                max_len=float(2 * s.bar - 0.25 * s.beat),
                gain_db=float(rng.uniform(-2.0, 2.0)),
                kind="chant" if chant else "spoken",
            )
        )
    gains = {
        "vocals": float(rng.uniform(-1.5, 1.5)),
        "drums": float(rng.uniform(-3.0, 1.0)),
        "bass": float(rng.uniform(-5.0, -1.0)),
        "other": float(rng.uniform(-4.0, 0.0)),
    }
    programs = {
        "vocals": [vocal_program],
        "drums": [0],
        "bass": [bass_program],
        "other": [comp_program] + ([pad_program] if pad_program is not None else []),
    }
    return SongSpec(
        seed=seed, seconds=float(seconds), tempo=tempo, key=key, mode=mode, progression=progression,
        drum_style=drum_style, bass_style=bass_style, comp_style=comp_style, programs=programs, pans=pans,
        gains_db=gains, vocal_plan=plan, intro_bars=intro_bars, speech=speech, midi=midi,
    )


def build_voice_song(seed: int, seconds: float = 30.0) -> SongSpec:
    """A voice-over-music song: the backing of `build_song(seed)` (drums, bass, other) and a vocal
    stem of espeak-ng speech only (no GM voice patch): after the intro, a spoken line starts every
    bar or two in a voice, variant, pitch and speed of its own, several languages per song."""
    spec = build_song(seed, seconds)
    rng = np.random.default_rng(10_000 + seed)
    beat = 60.0 / spec.tempo
    bar = 4 * beat
    t = spec.intro_bars * bar
    speech = []
    while t < seconds - 1.0:
        lang = str(rng.choice(list(VOICE_SET_LINES)))
        lines = VOICE_SET_LINES[lang]
        length = bar * int(rng.integers(1, 3)) if bar > 1.5 else 2 * bar
        speech.append(SpeechPhrase(
            text=str(lines[int(rng.integers(len(lines)))]),
            voice=lang + str(rng.choice(VOICE_SET_VARIANTS)),
            pitch=int(rng.integers(20, 80)),
            speed=int(rng.integers(130, 185)),
            start=float(t + rng.uniform(0.0, 0.25) * beat),
            max_len=float(length - 0.25 * beat),
            gain_db=float(rng.uniform(-2.0, 2.0)),
            kind="spoken",
        ))
        t += length
    midi = dict(spec.midi)
    midi["vocals"] = pretty_midi.PrettyMIDI(initial_tempo=spec.tempo)  # renders silence: speech only
    return replace(spec, programs={**spec.programs, "vocals": []}, vocal_plan=["speak"] * len(speech),
                   speech=speech, midi=midi)


BUILDERS = {"gm": build_song, "voice": build_voice_song}


# --------------------------------------------------------------------------- rendering


def check_tools() -> list[str]:
    """What rendering needs and is missing (empty if all is there)."""
    missing = []
    if shutil.which("fluidsynth") is None:
        missing.append("fluidsynth (apt-get install -y fluidsynth)")
    if not SF2.exists():
        missing.append(f"{SF2} (apt-get install -y fluid-soundfont-gm)")
    if shutil.which("espeak-ng") is None:
        missing.append("espeak-ng (apt-get install -y espeak-ng)")
    return missing


def render_midi(pm: pretty_midi.PrettyMIDI, n: int, tmp: Path, name: str) -> np.ndarray:
    """fluidsynth-render one MIDI object -> (2, n) float32 (trimmed / zero-padded to n)."""
    import soundfile as sf

    mid = tmp / f"{name}.mid"
    wav = tmp / f"{name}.wav"
    pm.write(str(mid))
    cmd = ["fluidsynth", "-ni", "-q", "-o", "audio.file.format=float", "-F", str(wav), "-r", str(SR), str(SF2), str(mid)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wav.exists():
        raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    data, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    if sr != SR:
        raise RuntimeError(f"fluidsynth wrote {sr} Hz, expected {SR}")
    out = np.zeros((2, n), np.float32)
    m = min(n, data.shape[0])
    out[:, :m] = data[:m, :2].T if data.shape[1] >= 2 else np.repeat(data[:m, :1].T, 2, axis=0)
    return out


def render_speech(phrase: SpeechPhrase, tmp: Path, name: str) -> np.ndarray:
    """espeak-ng one phrase -> mono float32 at SR, faded out at max_len."""
    import soundfile as sf
    from scipy.signal import resample_poly

    wav = tmp / f"{name}.wav"
    cmd = ["espeak-ng", "-v", phrase.voice, "-p", str(phrase.pitch), "-s", str(phrase.speed), "-w", str(wav), phrase.text]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wav.exists():
        raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    data, sr = sf.read(str(wav), dtype="float64", always_2d=True)
    y = data[:, 0]
    if sr != SR:
        from math import gcd

        g = gcd(SR, sr)
        y = resample_poly(y, SR // g, sr // g)
    # trim espeak's leading silence, cap the length, fade the tail
    nz = np.flatnonzero(np.abs(y) > 1e-3 * (np.abs(y).max() + 1e-12))
    if nz.size:
        y = y[max(0, nz[0] - 200) :]
    m = int(phrase.max_len * SR)
    if y.size > m:
        y = y[:m]
        f = min(m, int(0.08 * SR))
        y[-f:] *= np.linspace(1.0, 0.0, f)
    return y.astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def render_song(spec: SongSpec) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render a SongSpec -> (mix (2, n), {stem: (2, n)}) float32, mix == sum of stems."""
    n = int(round(spec.seconds * SR))
    with tempfile.TemporaryDirectory(prefix="bb-evalset-") as tmp:
        tmp = Path(tmp)
        stems = {stem: render_midi(spec.midi[stem], n, tmp, stem) if spec.midi[stem].instruments
                 else np.zeros((2, n), np.float32) for stem in STEMS}
        # the vocal stem: mono, centred; the sung line plus the speech phrases
        sung = stems["vocals"].mean(axis=0)
        speech = np.zeros(n, np.float64)
        sung_level = _rms(sung[np.abs(sung) > 1e-3 * (np.abs(sung).max() + 1e-12)]) if np.any(sung) else 0.05
        for i, ph in enumerate(spec.speech):
            y = render_speech(ph, tmp, f"speech{i}").astype(np.float64)
            active = y[np.abs(y) > 1e-3 * (np.abs(y).max() + 1e-12)]
            y *= sung_level / _rms(active) * 10 ** (ph.gain_db / 20)
            a = int(ph.start * SR)
            m = min(n - a, y.size)
            if m > 0:
                speech[a : a + m] += y[:m]
        voice = (sung + speech).astype(np.float32)
        stems["vocals"] = np.stack([voice, voice])
    # level the stems: each to its gain relative to a common RMS, then the mix to -1 dBFS peak
    for stem in STEMS:
        stems[stem] = (stems[stem].astype(np.float64) * (0.1 / _rms(stems[stem]) * 10 ** (spec.gains_db[stem] / 20))).astype(np.float32)
    mix = np.zeros((2, n), np.float64)
    for stem in STEMS:
        mix += stems[stem]
    scale = 10 ** (-1 / 20) / max(float(np.abs(mix).max()), 1e-9)
    stems = {k: (v * np.float32(scale)).astype(np.float32) for k, v in stems.items()}
    mix = stems["vocals"] + stems["drums"] + stems["bass"] + stems["other"]
    return mix, stems


# --------------------------------------------------------------------------- cache


def song_dir(out: Path, seed: int) -> Path:
    return Path(out) / f"seed-{seed:04d}"


def ensure_song(seed: int, seconds: float = 30.0, out: Path = DEFAULT_OUT, kind: str = "gm") -> Path:
    """Render the song for `seed` into out/seed-NNNN/ unless an up-to-date copy is there
    (kind: "gm", `build_song`, or "voice", `build_voice_song`)."""
    import soundfile as sf

    spec = BUILDERS[kind](seed, seconds)
    folder = song_dir(out, seed)
    meta_path = folder / "meta.json"
    digest = spec.digest()
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("digest") == digest and all((folder / f"{k}.wav").exists() for k in ("mix",) + STEMS):
                return folder
        except (OSError, ValueError):
            pass
    missing = check_tools()
    if missing:
        raise SystemExit("cannot render the evaluation set; missing: " + ", ".join(missing))
    mix, stems = render_song(spec)
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    sf.write(tmp / "mix.wav", mix.T, SR, subtype="FLOAT")
    for stem in STEMS:
        sf.write(tmp / f"{stem}.wav", stems[stem].T, SR, subtype="FLOAT")
    meta = {"digest": digest, **spec.describe()}
    meta["stem_rms_db"] = {k: 20 * np.log10(_rms(v)) for k, v in stems.items()}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def ensure_songs(seeds, seconds: float = 30.0, out: Path = DEFAULT_OUT, jobs: int = 2, kind: str = "gm") -> list[Path]:
    seeds = list(seeds)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # the work is in subprocesses
        return list(pool.map(lambda sd: ensure_song(sd, seconds, out, kind), seeds))


def load_song(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """-> (mix (2, n) float32, {stem: (2, n) float32}, meta)."""
    import soundfile as sf

    folder = Path(folder)
    mix = sf.read(folder / "mix.wav", dtype="float32", always_2d=True)[0].T.copy()
    stems = {stem: sf.read(folder / f"{stem}.wav", dtype="float32", always_2d=True)[0].T.copy() for stem in STEMS}
    meta = json.loads((folder / "meta.json").read_text())
    return mix, stems, meta


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="seed of the first song (song i has seed SEED + i)")
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--describe", action="store_true", help="only print what each seed would be (no rendering)")
    args = ap.parse_args(argv)
    seeds = range(args.seed, args.seed + args.songs)
    for sd in seeds:
        spec = build_song(sd, args.seconds)
        sp = ", ".join(f"{p.kind} {p.voice}" for p in spec.speech)
        print(
            f"seed {sd:4d}: {spec.tempo:5.0f} bpm, {spec.key_name:9s} drums {spec.drum_style:8s} bass {spec.bass_style}/{spec.programs['bass'][0]:<3d}"
            f" other {spec.comp_style}/{spec.programs['other']} voice {spec.programs['vocals'][0]} + [{sp}]"
        )
    if args.describe:
        return
    folders = ensure_songs(seeds, args.seconds, args.out, args.jobs)
    print(f"{len(folders)} songs in {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
