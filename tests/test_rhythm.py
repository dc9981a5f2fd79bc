"""melvae.evaluation.rhythm: tempo, pulse clarity and continuity at joins."""

import numpy as np
import pytest

from melvae.config import AudioConfig
from melvae.evaluation.rhythm import (
    beat_locked_pulse,
    loop_wrap_jump,
    pulse_clarity,
    pulse_clarity_windows,
    regular_marks,
    seam_score,
    tempo_bpm,
    tempo_held,
    tempo_stability,
    timbre_jump_ratio,
    windowed_tempo_bpm,
)

from .conftest import TINY_AUDIO, tone_track
from .test_descriptors import click_track

# -- tempo and pulse ---------------------------------------------------------------------------


@pytest.mark.parametrize("bpm", [90.0, 120.0, 128.0, 174.0])
def test_tempo_of_a_click_track(bpm):
    assert tempo_bpm(click_track(8.0, bpm), TINY_AUDIO) == pytest.approx(bpm, abs=2.0)


def test_tempo_batch_and_silence():
    cfg = TINY_AUDIO
    tempi = tempo_bpm(np.stack([click_track(6.0, 100.0), click_track(6.0, 140.0)]), cfg)
    np.testing.assert_allclose(tempi, [100.0, 140.0], atol=2.0)
    assert np.isnan(tempo_bpm(np.zeros(6 * cfg.sample_rate, np.float32), cfg))


def test_tempo_stability_steady_versus_changing():
    cfg = TINY_AUDIO
    steady = click_track(32.0, 120.0)
    change = np.concatenate([click_track(16.0, 100.0), click_track(16.0, 140.0, seed=1)])
    assert len(windowed_tempo_bpm(steady, cfg)) == 7  # 8 s windows every 4 s in 32 s
    assert tempo_stability(steady, cfg) < 1.0
    assert tempo_stability(change, cfg) > 10.0
    with pytest.raises(ValueError):
        tempo_stability(steady[: 9 * cfg.sample_rate], cfg)  # one window only


def test_pulse_clarity_beat_versus_noise_chord_and_random_onsets():
    cfg = TINY_AUDIO
    rng = np.random.default_rng(0)
    seconds, sr = 40.0, cfg.sample_rate
    noise = (0.1 * rng.standard_normal(int(seconds * sr))).astype(np.float32)
    # The same bursts as the click track, as many, at random times: onsets without a pulse.
    scattered = np.zeros(int(seconds * sr), np.float32)
    burst = click_track(0.1, 60.0)[:200]
    for start in rng.uniform(0.0, seconds - 0.1, int(2 * seconds)):
        i = int(start * sr)
        scattered[i : i + len(burst)] += burst
    for bpm in (90.0, 120.0, 174.0):
        assert pulse_clarity(click_track(seconds, bpm), cfg) > 0.8, bpm
    assert pulse_clarity(click_track(6.0, 120.0), cfg) > 0.7  # shorter than one window
    assert pulse_clarity(noise, cfg) < 0.2
    assert pulse_clarity(scattered, cfg) < 0.2
    assert pulse_clarity(np.zeros_like(noise), cfg) == 0.0  # silence: no onsets at all
    # Noise over the beat blurs the pulse but keeps some of it.
    assert 0.2 < pulse_clarity(click_track(seconds, 120.0) + noise, cfg) < 0.8
    assert np.isnan(pulse_clarity(click_track(1.5, 120.0), cfg))  # < 2 max_lag


def test_pulse_clarity_windows_line_up_with_the_tempo_windows():
    """Per window: a beat that stops halfway is clear in the first windows only; the
    windows are those of windowed_tempo_bpm, and their mean is pulse_clarity."""
    cfg = TINY_AUDIO
    beat = click_track(16.0, 120.0)
    beat[8 * cfg.sample_rate :] = 0.0
    noise = 0.02 * np.random.default_rng(1).standard_normal(len(beat)).astype(np.float32)
    audio = beat + noise
    clarity = pulse_clarity_windows(audio, cfg, 4.0, 2.0)
    assert len(clarity) == len(windowed_tempo_bpm(audio, cfg, 4.0, 2.0)) == 7
    assert clarity[0] > 0.6 and clarity[-1] < 0.2
    assert pulse_clarity(audio, cfg, 4.0, 2.0) == pytest.approx(clarity.mean())
    assert pulse_clarity_windows(audio[: cfg.sample_rate], cfg).size == 0  # < 2 max_lag


def test_pulse_clarity_of_a_steady_chord_is_low():
    # A held A major triad with five harmonics per note, at the default (realistic) audio
    # configuration: its partials beat into an envelope that is periodic but moves by
    # hundredths of a dB, which the onset floor scores as no pulse.
    cfg = AudioConfig()
    t = np.arange(20 * cfg.sample_rate) / cfg.sample_rate
    rng = np.random.default_rng(0)
    chord = sum(
        0.2 / k * np.sin(2 * np.pi * f * k * t + rng.uniform(0, 2 * np.pi))
        for f in (220.0, 277.18, 329.63)
        for k in range(1, 6)
    ).astype(np.float32)
    assert pulse_clarity(chord, cfg) < 0.2
    beat = click_track(20.0, 120.0, sample_rate=cfg.sample_rate)
    assert pulse_clarity(beat, cfg) > 0.8


# -- continuity at joins -----------------------------------------------------------------------


def test_seam_score_catches_a_butt_join():
    cfg = TINY_AUDIO
    rng = np.random.default_rng(0)
    a = tone_track(4.0, cfg.sample_rate, 220.0, rng)
    b = tone_track(4.0, cfg.sample_rate, 300.0, rng) * 0.3
    # A hard cut between unrelated clips, mid-beat, with a DC step: an audible seam.
    joined = np.concatenate([a[: int(2.77 * cfg.sample_rate)], b + 0.3])
    seamless = tone_track(8.0, cfg.sample_rate, 220.0, rng)
    bad = seam_score(joined, cfg, [2.77])
    good = seam_score(seamless, cfg, [2.77])
    assert bad > 2.0 * good
    with pytest.raises(ValueError):
        seam_score(seamless, cfg, [100.0])


def test_timbre_jump_ratio_at_a_switch_and_on_stationary_audio():
    cfg = TINY_AUDIO
    rng = np.random.default_rng(0)
    low = tone_track(6.0, cfg.sample_rate, 110.0, rng)
    high = tone_track(6.0, cfg.sample_rate, 440.0, rng)
    switch = np.concatenate([low, high])  # the timbre changes abruptly at 6 s
    steady = tone_track(12.0, cfg.sample_rate, 110.0, rng)
    assert timbre_jump_ratio(switch, cfg, [6.0]) > 10.0
    assert 0.5 < timbre_jump_ratio(steady, cfg, [6.0]) < 2.0
    # A mark away from the switch is an ordinary position (the median ignores the switch).
    assert 0.5 < timbre_jump_ratio(switch, cfg, [3.0]) < 2.0
    noise = (0.1 * rng.standard_normal(60 * cfg.sample_rate)).astype(np.float32)
    assert 0.7 < timbre_jump_ratio(noise, cfg, regular_marks(60.0)) < 1.4
    assert np.isnan(timbre_jump_ratio(np.zeros_like(noise), cfg, [30.0]))  # never changes
    with pytest.raises(ValueError):
        timbre_jump_ratio(steady, cfg, [0.5, 11.8])  # no mark with 1 s on both sides
    with pytest.raises(ValueError):
        timbre_jump_ratio(steady, cfg, regular_marks(12.0, every=1.0))  # no position away


def test_regular_marks():
    assert regular_marks(35.0) == [10.0, 20.0, 30.0]
    assert regular_marks(30.0) == [10.0, 20.0]  # strictly inside
    assert regular_marks(5.0) == []
    assert regular_marks(3.0, every=1.0) == [1.0, 2.0]


# -- holding an asked tempo --------------------------------------------------------------------


@pytest.mark.parametrize("bpm", [100.0, 128.0, 150.0])
def test_tempo_held_by_a_click_track_at_the_asked_tempo_only(bpm):
    cfg = TINY_AUDIO
    clicks = click_track(60.0, bpm)
    assert tempo_held(clicks, cfg, bpm) == 1.0
    assert tempo_held(clicks, cfg, bpm / 2) == 1.0  # the half or double counts as held
    assert tempo_held(clicks, cfg, bpm * 1.06) == 0.0  # 6% off: another tempo
    assert tempo_held(click_track(60.0, bpm * 0.9), cfg, bpm) == 0.0


def test_tempo_held_counts_the_windows_that_hold_it():
    cfg = TINY_AUDIO
    # 40 s at 120 BPM, then 40 s at 140: 20 s windows every 10 s, 7 in all; the three
    # inside the first part hold 120, the three inside the second do not, the one across the
    # change may go either way.
    change = np.concatenate([click_track(40.0, 120.0), click_track(40.0, 140.0, seed=1)])
    assert 3 / 7 <= tempo_held(change, cfg, 120.0) <= 4 / 7
    assert tempo_held(np.zeros(30 * cfg.sample_rate, np.float32), cfg, 120.0) == 0.0
    assert tempo_held(click_track(8.0, 120.0), cfg, 120.0) == 1.0  # shorter than a window
    # A sample rate instead of a config: the default STFT settings at that rate.
    assert tempo_held(click_track(40.0, 120.0), cfg.sample_rate, 120.0) == 1.0


def test_beat_locked_pulse_asks_for_the_exact_tempo():
    cfg = TINY_AUDIO
    clicks = click_track(60.0, 128.0)
    exact = beat_locked_pulse(clicks, cfg, 128.0)
    assert exact > 0.95
    # 1% off drifts 0.43 beats over a 20 s window: the grid blurs, more the further off.
    assert 0.5 < beat_locked_pulse(clicks, cfg, 129.28) < exact
    assert beat_locked_pulse(clicks, cfg, 128.0 * 1.06) < 0.2
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(60 * cfg.sample_rate)).astype(np.float32)
    assert beat_locked_pulse(noise, cfg, 128.0) < 0.1
    assert beat_locked_pulse(np.zeros_like(noise), cfg, 128.0) == 0.0
    # Off-beats as strong as the beats: a grid at the beat sees both phases and cancels.
    offbeats = click_track(60.0, 256.0)
    assert beat_locked_pulse(offbeats, cfg, 128.0) < 0.2
    assert beat_locked_pulse(offbeats, cfg, 256.0) > 0.95
    with pytest.raises(ValueError):
        beat_locked_pulse(clicks, cfg, 0.0)


def test_loop_wrap_jump_whole_bars_versus_a_cut_through_a_change():
    cfg = TINY_AUDIO
    sr = cfg.sample_rate
    # 4 bars at 120 BPM on one chord, then 4 bars on another.
    first = tone_track(8.0, sr, 110.0, np.random.default_rng(1))
    second = tone_track(8.0, sr, 165.0, np.random.default_rng(2))
    track = np.concatenate([first, second])
    assert 0.7 < loop_wrap_jump(track[: 8 * sr], cfg) < 1.3  # one chord, cut at whole bars
    # The same length cut across the change: its end (second chord) runs into its start
    # (first chord) when it repeats.
    assert loop_wrap_jump(track[4 * sr : 12 * sr], cfg) > 5.0
    with pytest.raises(ValueError):
        loop_wrap_jump(track[: 3 * sr], cfg)  # too short for 1 s of context around the wrap
