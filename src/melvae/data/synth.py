"""Procedural music synthesizer: techno, breakbeat and ambient tracks rendered with numpy.

``melvae synth`` and ``melvae demo`` use it to build a labelled data set without downloading
any music (``<out_dir>/<style>/<style>_<NN>.wav``). Each track draws tempo, key, timbre and
patterns from its own seeded generator, so output is deterministic. Rendering is vectorized:
one-shot drums are added into the buffer at their onsets, sustained tones made in one go.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from melvae.config import SYNTH_SECONDS, SYNTH_STYLES, SYNTH_TRACKS_PER_STYLE, AudioConfig, default
from melvae.safeio import write_bytes

STYLES: tuple[str, ...] = SYNTH_STYLES
PEAK = 0.89  # about -1 dBFS
MINOR = (0, 2, 3, 5, 7, 8, 10)
# (kick, snare) patterns over one bar of 16th notes: x = hit, o = ghost note, . = rest.
BREAKS = (
    ("x.x.......xx....", "....x..o.o..x..o"),
    ("x.........x.....", "....x.......x..."),
    ("x..x......x..x..", "....x..o....x.o."),
    ("x.x...x...x.....", "....x..o.o..x..."),
    ("x......x..x.....", "....x.......x.oo"),
)
_HIT = {"x": 1.0, "o": 0.35, ".": 0.0}
# Ambient chord loops as semitones above the key + m(inor)/M(ajor): i VI III VII, i iv VI v, ...
PROGRESSIONS = ("0m 8M 3M 10M", "0m 5m 8M 7m", "0M 7M 9m 5M", "0M 5M 9m 7M", "0m 10M 8M 10M")


def _midi_to_hz(midi):
    """Frequency in Hz of a (fractional) MIDI note number."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _decay(n_samples: int, decay_seconds: float, sample_rate: int) -> np.ndarray:
    """Exponential envelope exp(-t / decay_seconds)."""
    return np.exp(-np.arange(n_samples) / (decay_seconds * sample_rate))


def _fft_size(n: int) -> int:
    """Smallest m * 2^k >= n for a few 3- and 5-smooth m: a length numpy's FFT handles fast."""
    return min(m << max(0, (-(-n // m) - 1).bit_length()) for m in (1, 3, 5, 9, 15, 25, 27, 45))


def _noise(rng, n_samples: int, sample_rate: int, low_hz=0.0, high_hz=None, decay_seconds=None):
    """Unit-RMS noise through 2nd-order high-pass (low_hz) and low-pass (high_hz) magnitude
    responses, optionally with an exponential decay: hats, snare rattle, swells, reverb tails."""
    n_fft = _fft_size(max(n_samples, 2))
    freq_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    gain = np.ones_like(freq_hz)
    if low_hz > 0:
        gain /= np.sqrt(1.0 + (min(low_hz, 0.4 * sample_rate) / np.maximum(freq_hz, 1e-3)) ** 4)
    if high_hz is not None:
        gain /= np.sqrt(1.0 + (freq_hz / min(high_hz, 0.45 * sample_rate)) ** 4)
    white = rng.standard_normal(n_fft, dtype=np.float32)
    noise = np.fft.irfft(np.fft.rfft(white) * gain, n_fft)[:n_samples].astype(np.float64)
    noise /= np.sqrt(np.mean(noise**2)) + 1e-12
    return noise if decay_seconds is None else noise * _decay(n_samples, decay_seconds, sample_rate)


def _place(buffer: np.ndarray, sample: np.ndarray, onset_samples, gains=1.0) -> None:
    """Add ``sample`` into ``buffer`` at each onset (in samples), scaled by its gain."""
    gains = np.broadcast_to(gains, np.shape(onset_samples))
    for start, gain in zip(np.asarray(onset_samples, dtype=np.int64), gains, strict=True):
        if 0 <= start < len(buffer) and gain > 0:
            end = min(len(buffer), start + len(sample))
            buffer[start:end] += gain * sample[: end - start]


def _grid(bpm: float, n_samples: int, sample_rate: int):
    """(step_seconds, start sample of each 16th-note step); the last starts at/after n_samples."""
    step_seconds = 60.0 / bpm / 4
    n_steps = int(np.ceil(n_samples / (step_seconds * sample_rate))) + 1
    return step_seconds, np.round(np.arange(n_steps) * step_seconds * sample_rate).astype(np.int64)


def _kick(rng, sample_rate: int) -> np.ndarray:
    """Kick drum: a sine swept down from ~170 Hz to ~50 Hz with an exponential decay."""
    n = int(rng.uniform(0.35, 0.5) * sample_rate)
    t = np.arange(n) / sample_rate
    end_hz, start_hz = rng.uniform(42, 56), rng.uniform(130, 200)
    freq_hz = end_hz + (start_hz - end_hz) * np.exp(-t / rng.uniform(0.02, 0.045))
    body = np.sin(2 * np.pi * np.cumsum(freq_hz) / sample_rate)
    click = 0.25 * _noise(rng, n, sample_rate, 1500.0, decay_seconds=0.004)
    return np.tanh(1.6 * (body * np.exp(-t / rng.uniform(0.12, 0.22)) + click))


def _hat(rng, sample_rate: int, decay_seconds: float) -> np.ndarray:
    """Hi-hat: noise high-passed at 6-8.5 kHz (short decay = closed, long = open)."""
    n, low_hz = int(6 * decay_seconds * sample_rate), rng.uniform(6000, 8500)
    return 0.3 * _noise(rng, n, sample_rate, low_hz, decay_seconds=decay_seconds)


def _snare(rng, sample_rate: int) -> np.ndarray:
    """Snare: a short ~200 Hz tone plus band-passed noise."""
    t = np.arange(int(0.3 * sample_rate)) / sample_rate
    tone = np.sin(2 * np.pi * rng.uniform(170, 230) * t) * np.exp(-t / 0.05)
    return 0.9 * tone + 0.55 * _noise(rng, len(t), sample_rate, 1200, 9000, rng.uniform(0.08, 0.16))


def _clap(rng, sample_rate: int) -> np.ndarray:
    """Hand clap: three quick noise bursts then a short tail, band-passed around 1-3 kHz."""
    t = np.arange(int(0.3 * sample_rate)) / sample_rate
    bursts = ((0.0, 0.004), (0.011, 0.004), (0.022, rng.uniform(0.06, 0.12)))  # (onset, decay)
    env = sum((t >= d) * np.exp(-np.maximum(t - d, 0) / tau) for d, tau in bursts)
    return 0.4 * _noise(rng, len(t), sample_rate, 900, 3000) * env


def _sequence(step_midi, gate_seconds, starts, n_samples: int, sample_rate: int):
    """Per-sample (freq_hz, seconds into the note, click-free gate, note step) of a monophonic
    step sequence: ``step_midi`` has one pitch per step (NaN = rest), ``gate_seconds`` lengths."""
    on = ~np.isnan(step_midi)
    last_on = np.maximum.accumulate(np.where(on, np.arange(len(step_midi)), -1))
    note = last_on[np.repeat(np.arange(len(starts) - 1), np.diff(starts))[:n_samples]]
    sounding, note = note >= 0, np.maximum(note, 0)
    midi = np.where(on, step_midi, step_midi[on][0] if on.any() else 48.0)
    t_in = (np.arange(n_samples) - starts[note]) / sample_rate
    gate = np.clip(t_in / 0.004, 0, 1) * np.clip((gate_seconds[note] - t_in) / 0.01, 0, 1)
    return _midi_to_hz(midi)[note], t_in, sounding * gate, note


def _filtered_saw(freq_hz, cutoff_hz, resonance, amp, sample_rate, n_harmonics=24, square=False):
    """``amp`` times a band-limited saw (or square) through a resonant 4-pole low-pass, built
    additively (only where amp > 0) so pitch and cutoff can move every sample: sin(k * phase)
    comes from the Chebyshev recurrence, harmonic k gets 1 / ((1 - x^2)^2 + (x/q)^2), x = kf/fc."""
    out = np.zeros(len(freq_hz))
    active = amp > 0
    phase = np.mod(2 * np.pi * np.cumsum(freq_hz) / sample_rate, 2 * np.pi)[active]
    ratio2 = ((freq_hz / cutoff_hz)[active] ** 2).astype(np.float32)
    two_cos = (2 * np.cos(phase)).astype(np.float32)
    s_prev, s = np.zeros_like(two_cos), np.sin(phase).astype(np.float32)
    wave = np.zeros_like(two_cos)
    top = int(min(n_harmonics, 0.45 * sample_rate / np.max(freq_hz, initial=1.0)))
    for k in range(1, top + 1):
        if not (square and k % 2 == 0):
            x2 = k * k * ratio2
            wave += s / (k * ((1 - x2) ** 2 + x2 / resonance**2))
        s_prev, s = s, two_cos * s - s_prev
    out[active] = wave * amp[active]
    return out


def _chord(notes, n_samples: int, sample_rate: int, bright_hz: float, rng, detune_cents=8.0):
    """Detuned-saw chord: two saws per MIDI note, ``detune_cents`` apart, harmonics rolled off
    above ``bright_hz``; each is read from a wavetable with a 32-bit fixed-point phase."""
    size, out = 8192, np.zeros(n_samples)
    for midi in np.repeat(notes, 2) + np.tile([-0.005, 0.005], len(notes)) * detune_cents:
        freq_hz = float(_midi_to_hz(midi))
        k = np.arange(1, max(1, int(min(0.45 * sample_rate, 4 * bright_hz) / freq_hz)) + 1)
        spectrum = np.zeros(size // 2 + 1, dtype=np.complex128)
        spectrum[k] = -0.5j * size / (k * (1.0 + (k * freq_hz / bright_hz) ** 2))
        step = int(round(freq_hz / sample_rate * 2**32))
        phase = int(rng.integers(2**32)) + np.arange(n_samples, dtype=np.int64) * step
        out += np.fft.irfft(spectrum, size)[(phase >> 19) & (size - 1)]
    return out / len(notes)


def _bell(freq_hz: float, n_samples: int, sample_rate: int) -> np.ndarray:
    """Soft bell: slightly inharmonic partials, higher ones decaying faster."""
    t = np.arange(n_samples) / sample_rate
    partials = ((1.0, 1.0), (2.0, 0.45), (3.01, 0.25), (4.17, 0.12), (5.43, 0.08))
    tone = sum(a * np.sin(2 * np.pi * freq_hz * r * t) * np.exp(-t * r / 1.5) for r, a in partials)
    return tone * np.clip(t / 0.003, 0, 1)


def _echo(signal: np.ndarray, delay_samples: int, feedback: float, taps: int = 4) -> np.ndarray:
    """Multi-tap echo: copies delayed by k * delay_samples with gain feedback**k."""
    out = signal.copy()
    for k in range(1, taps + 1):
        if 0 < k * delay_samples < len(signal):
            out[k * delay_samples :] += feedback**k * signal[: -k * delay_samples]
    return out


def _reverb(signal: np.ndarray, sample_rate: int, rng, rt60_seconds: float, wet: float):
    """Convolution reverb with a decaying filtered-noise impulse response (FFT based)."""
    n_ir = max(16, int(rt60_seconds * sample_rate))
    ir = _noise(rng, n_ir, sample_rate, 150, 5000, rt60_seconds / 6.9).astype(np.float32)
    n_fft = _fft_size(len(signal) + n_ir)
    ir_spectrum = np.fft.rfft(ir / np.linalg.norm(ir), n_fft)
    spectrum = np.fft.rfft(signal.astype(np.float32), n_fft) * ir_spectrum
    return signal + wet * np.fft.irfft(spectrum, n_fft)[: len(signal)]


def _techno(rng, n_samples: int, sample_rate: int) -> np.ndarray:
    """Four-on-the-floor kick, off-beat hats, 16th bass, optional clap and acid line or stab."""
    step_seconds, starts = _grid(rng.uniform(124, 132), n_samples, sample_rate)
    bar, pos = np.arange(len(starts)) // 16, np.arange(len(starts)) % 16
    dry, send = np.zeros(n_samples), np.zeros(n_samples)
    kick_on = (pos % 4 == 0) & ~((bar % 8 == 7) & (pos >= 8))  # short break every 8 bars
    _place(dry, _kick(rng, sample_rate), starts[kick_on])
    _place(send, _hat(rng, sample_rate, rng.uniform(0.04, 0.09)), starts[pos % 4 == 2], 0.8)
    if rng.random() < 0.6:  # closed 16th hats, accented before the beat
        odd = pos % 2 == 1
        _place(send, _hat(rng, sample_rate, 0.012), starts[odd], 0.3 + 0.2 * (pos[odd] % 4 == 3))
    if rng.random() < 0.75:
        _place(send, _clap(rng, sample_rate), starts[(pos == 4) | (pos == 12)], 0.8)
    root = int(rng.integers(33, 45))  # A1..G#2: the tonic of a random minor key
    shift = np.where(bar % 4 == 3, int(rng.choice([3, 5, 7, 8, 10])), 0)  # phrase turnaround
    rhythm = [np.arange(16) % 4 != 0, np.arange(16) % 4 == 2, rng.random(16) < 0.6]
    degrees = rng.choice([0, 0, 0, 0, 12, 7, 3, 10], size=16)
    bass_midi = np.where(rhythm[int(rng.integers(3))][pos], root + degrees[pos] + shift, np.nan)
    gate = np.full(len(starts), rng.uniform(0.4, 0.8) * step_seconds)
    freq_hz, t_in, amp, _ = _sequence(bass_midi, gate, starts, n_samples, sample_rate)
    cutoff_hz = rng.uniform(150, 350) * (1 + rng.uniform(2, 6) * np.exp(-t_in / 0.08))
    dry += 0.5 * _filtered_saw(freq_hz, cutoff_hz, 0.9, amp, sample_rate, 20, rng.random() < 0.4)
    lead = rng.random()
    if lead < 0.4:  # acid line: resonant filter with accents, slides and a slow sweep
        acid_on, accent, slide = rng.random((3, 16)) < [[0.7], [0.3], [0.25]]
        notes = root + 12 + shift + rng.choice(MINOR + (12,), 16)[pos]
        acid_midi = np.where(acid_on[pos], notes, np.nan)
        gate = (0.55 + 0.5 * slide[pos]) * step_seconds  # a slide overlaps the next note
        freq_hz, t_in, amp, note = _sequence(acid_midi, gate, starts, n_samples, sample_rate)
        bars = np.arange(n_samples) / sample_rate / (16 * step_seconds)
        sweep = 2 ** (1.3 * np.sin(2 * np.pi * bars / 8 + rng.uniform(0, 2 * np.pi)))  # 8 bars
        env = 1 + (3 + 4 * accent[note % 16]) * np.exp(-t_in / rng.uniform(0.06, 0.15))
        cutoff_hz = np.minimum(rng.uniform(250, 450) * sweep * env, 0.4 * sample_rate)
        acid = _filtered_saw(freq_hz, cutoff_hz, rng.uniform(2.0, 2.8), amp, sample_rate)
        send += 0.12 * np.tanh(2 * acid * (0.7 + 0.3 * accent[note % 16]))
    elif lead < 0.75:  # minor-seventh stab on an off-beat figure, echoed a dotted 8th later
        n_stab = int(0.4 * sample_rate)
        figure = [(3, 10), (14,), (6, 14), (2, 7, 12)][int(rng.integers(4))]
        bright_hz, decay_seconds = rng.uniform(1500, 4000), rng.uniform(0.06, 0.15)
        for offset in np.unique(shift):
            notes = root + 24 + offset + np.array([0, 3, 7, 10])
            stab = _chord(notes, n_stab, sample_rate, bright_hz, rng)
            hits = np.isin(pos, figure) & (shift == offset) & (bar % 2 == 1)
            _place(send, stab * _decay(n_stab, decay_seconds, sample_rate), starts[hits], 0.35)
        send = _echo(send, int(3 * step_seconds * sample_rate), 0.4)
    return dry + _reverb(send, sample_rate, rng, rng.uniform(0.6, 1.2), 0.25)


def _breakbeat(rng, n_samples: int, sample_rate: int) -> np.ndarray:
    """Syncopated kick/snare breaks varied per bar, swung hats, sub bass and snare-roll fills."""
    bpm = rng.uniform(160, 175) if rng.random() < 0.5 else rng.uniform(85, 110)
    step_seconds, starts = _grid(bpm, n_samples, sample_rate)
    n_steps, step_samples = len(starts), step_seconds * sample_rate
    patterns = np.array([[[_HIT[c] for c in part] for part in pair] for pair in BREAKS])
    main, alt = rng.choice(len(BREAKS), 2, replace=False)
    kick_gain, snare_gain = np.zeros((2, n_steps // 16 + 1, 16))
    for bar in range(n_steps // 16 + 1):  # vary the break per bar, with fills every 4 bars
        kick, snare = patterns[alt if bar % 2 == 1 and rng.random() < 0.5 else main]
        kick_gain[bar], snare_gain[bar] = kick, snare
        if rng.random() < 0.3:  # an extra ghost kick on an empty step
            kick_gain[bar, rng.choice(np.flatnonzero((kick == 0) & (snare == 0)))] = 0.6
        if bar % 4 == 3 and rng.random() < 0.6:  # snare roll rising into the next phrase
            first = int(rng.choice([8, 12]))
            kick_gain[bar, first:] = 0.0
            snare_gain[bar, first:] = np.linspace(0.4, 0.95, 16 - first)
    kick_gain, snare_gain = kick_gain.ravel()[:n_steps], snare_gain.ravel()[:n_steps]
    dry, send = np.zeros(n_samples), np.zeros(n_samples)
    _place(dry, _kick(rng, sample_rate), starts, kick_gain)
    snare = _snare(rng, sample_rate)
    _place(send, snare, starts, snare_gain)
    fill = (snare_gain > 0.35) & (snare_gain < 1.0)  # 32nd notes between the 16ths of a roll
    _place(send, snare, starts[fill] + step_samples / 2, 0.5 * snare_gain[fill])
    pos = np.arange(n_steps) % 4
    swing = np.where(pos % 2 == 1, rng.uniform(0.1, 0.3) * step_samples, 0.0)
    hat_gain = np.select([pos == 0, pos == 2], [0.6, 0.8], 0.35 * (rng.random() < 0.7))
    _place(send, _hat(rng, sample_rate, rng.uniform(0.015, 0.03)), starts + swing, hat_gain)
    open_hat = (np.arange(n_steps) % 32 == 30) & (rng.random() < 0.6)
    _place(send, _hat(rng, sample_rate, 0.08), starts[open_hat], 0.5)
    root = int(rng.integers(28, 40))  # E1..D#2
    moves = [(0, 0, 8, 10), (0, 5, 3, 10), (0, 0, 7, 5), (0, 10, 8, 7)]  # bar roots, semitones
    progression = np.array(moves[int(rng.integers(len(moves)))])
    on = np.flatnonzero(kick_gain >= 1)  # the sub bass follows the main kicks
    sub_midi, gate = np.full(n_steps, np.nan), np.zeros(n_steps)
    sub_midi[on] = root + progression[(on // 16) % 4]
    gate[on] = np.minimum(np.diff(np.append(on, n_steps)), 8) * step_seconds * 0.95
    freq_hz, _, amp, _ = _sequence(sub_midi, gate, starts, n_samples, sample_rate)
    dry += 0.45 * amp * np.tanh(1.5 * np.sin(2 * np.pi * np.cumsum(freq_hz) / sample_rate))
    return dry + _reverb(send, sample_rate, rng, rng.uniform(0.5, 1.0), 0.2)


def _ambient(rng, n_samples: int, sample_rate: int) -> np.ndarray:
    """Slow detuned-saw pad chords with long attack/release, noise swells and a soft bell melody."""
    beat_seconds = 60.0 / rng.uniform(60, 90)
    chord_seconds = 4 * beat_seconds * int(rng.choice([2, 3, 4]))
    key = int(rng.integers(45, 57))
    chords = str(rng.choice(PROGRESSIONS)).split()
    prog = [(int(chord[:-1]), 3 if chord[-1] == "m" else 4) for chord in chords]  # (root, third)
    attack, release = rng.uniform(1.0, 2.5), rng.uniform(1.5, 3.0)
    chord_len = int(chord_seconds * sample_rate)
    seg_len = int((chord_seconds + release) * sample_rate)
    t = np.arange(seg_len) / sample_rate
    env = np.clip(t / attack, 0, 1) * np.clip((chord_seconds + release - t) / release, 0, 1)
    env = np.sin(0.5 * np.pi * env) ** 2
    mix = np.zeros(n_samples + seg_len)
    for i in range(int(np.ceil(n_samples / chord_len))):
        degree, third = prog[i % len(prog)]
        notes = key + degree + np.array([0, 7, 12 + third, 19, rng.choice([24, 26])])  # 8ve/add9
        pad = _chord(notes, seg_len, sample_rate, rng.uniform(600, 2000), rng, rng.uniform(6, 14))
        lfo = 1 + 0.2 * np.sin(2 * np.pi * t / rng.uniform(3, 7) + rng.uniform(0, 2 * np.pi))
        mix[i * chord_len : i * chord_len + seg_len] += 0.5 * pad * env * lfo
        if rng.random() < 0.4:  # a filtered-noise swell under this chord
            noise = _noise(rng, seg_len, sample_rate, 300, rng.uniform(1200, 3000))
            swell = np.sin(np.pi * t / (chord_seconds + release)) ** 4
            mix[i * chord_len : i * chord_len + seg_len] += 0.08 * noise * swell
    if rng.random() < 0.7:  # soft bell melody on chord tones, with echoes
        bells: dict[int, np.ndarray] = {}
        melody = np.zeros_like(mix)
        beats = np.flatnonzero(rng.random(int(n_samples / sample_rate / beat_seconds)) < 0.25)
        for beat in beats:
            degree, third = prog[int(beat * beat_seconds / chord_seconds) % len(prog)]
            midi = key + 24 + degree + int(rng.choice([0, third, 7, 12]))
            if midi not in bells:
                bells[midi] = _bell(float(_midi_to_hz(midi)), 3 * sample_rate, sample_rate)
            onset = beat * beat_seconds * sample_rate
            _place(melody, bells[midi], [onset], rng.uniform(0.05, 0.1))
        mix += _echo(melody, int(1.5 * beat_seconds * sample_rate), 0.35, taps=3)
    return _reverb(mix[:n_samples], sample_rate, rng, rng.uniform(3.0, 6.0), 0.6)


_RENDERERS = {"techno": _techno, "breakbeat": _breakbeat, "ambient": _ambient}


def _check(style: str, seconds: float, sample_rate: int) -> None:
    """Raise ValueError for an unknown style or a non-positive duration or sample rate."""
    if style not in _RENDERERS:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    if not (seconds > 0 and sample_rate > 0):
        raise ValueError(f"seconds and sample_rate must be > 0, got {seconds} and {sample_rate}")


def synthesize(
    style: str, seconds: float, sample_rate: int = 22050, seed: int | None = 0
) -> np.ndarray:
    """One mono track, float32 shape (n_samples,) with n_samples == round(seconds * sample_rate),
    peak about -1 dBFS (0.89). ``seed=None`` gives a fresh random track."""
    _check(style, seconds, sample_rate)
    n_samples = int(round(seconds * sample_rate))
    if n_samples == 0:
        return np.zeros(0, dtype=np.float32)
    mix = _RENDERERS[style](np.random.default_rng(seed), n_samples, int(sample_rate))[:n_samples]
    mix = mix - np.mean(mix)
    peak = np.max(np.abs(mix))
    return (mix * (PEAK / peak if peak > 0 else 0.0)).astype(np.float32)


def synthesize_dataset(
    out_dir,
    tracks_per_style: int = SYNTH_TRACKS_PER_STYLE,
    seconds: float = SYNTH_SECONDS,
    sample_rate: int = default(AudioConfig, "sample_rate"),
    styles: Iterable[str] = STYLES,
    seed: int = 0,
) -> list[Path]:
    """Writes out_dir/<style>/<style>_<NN>.wav (PCM_16) -- the genre/track layout whose folder
    name is the label -- and returns the paths. Each track gets its own seed derived from
    (seed, style, index) so output is deterministic."""
    import soundfile

    styles = [styles] if isinstance(styles, str) else list(dict.fromkeys(styles))
    for style in styles:
        _check(style, seconds, sample_rate)
    if tracks_per_style < 1:
        raise ValueError(f"tracks_per_style must be >= 1, got {tracks_per_style}")
    paths = []
    for style in styles:
        folder = Path(out_dir) / style
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(tracks_per_style):
            entropy = [int(seed), zlib.crc32(style.encode()), index]  # stable across runs
            track_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
            audio = synthesize(style, seconds, sample_rate, track_seed)
            path = folder / f"{style}_{index:02d}.wav"
            buffer = io.BytesIO()  # encoded in memory, written atomically (melvae.safeio)
            soundfile.write(buffer, audio, sample_rate, subtype="PCM_16", format="WAV")
            write_bytes(path, buffer.getbuffer())
            paths.append(path)
    return paths
