"""Tempo: the clock a clocked prior follows, `--bpm` everywhere, and seamless loops."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

import melvae
from melvae.cli import main
from melvae.config import PriorConfig
from melvae.errors import MelvaeError
from melvae.generation.clock import check_bpm, steady_clock, track_clock
from melvae.generation.grid import StretchStream, beat_grid, grid_frames, stretch
from melvae.generation.loops import loop_samples, seamless
from melvae.models.priors.base import Prior, Repeat
from melvae.models.priors.beat import BeatPrior, clock_features
from melvae.models.priors.gru import GRUPrior

from .conftest import TINY_AUDIO, tone_track


# -- the clock ----------------------------------------------------------------------------------
def test_a_steady_clock_advances_one_beat_per_beat_period():
    dt = 0.05  # s per frame; 120 BPM: a beat every 10 frames
    clock = steady_clock(41, dt, [120.0], phase0=0.25)
    assert clock.shape == (41, 2) and torch.all(clock[:, 1] == 120.0)
    assert clock[0, 0] == pytest.approx(0.25)
    np.testing.assert_allclose(clock[::10, 0], 0.25, atol=1e-5)  # same phase, beat after beat
    np.testing.assert_allclose(clock[5, 0], 0.75, atol=1e-5)


def test_a_tempo_schedule_integrates_without_a_jump():
    clock = steady_clock(200, 0.05, [100.0, 140.0])
    tempo, phase = clock[:, 1].double(), clock[:, 0].double()
    assert tempo[0] == 100.0 and tempo[-1] == pytest.approx(140.0)
    step = torch.remainder(phase[1:] - phase[:-1], 1.0)  # beats advanced each frame
    np.testing.assert_allclose(step, tempo[:-1] * 0.05 / 60.0, atol=1e-5)


def test_track_clock_carries_on_or_runs_free():
    clock, info = track_clock(30, 0, 0.05, None, None)
    assert clock is None and info["clock"].startswith("none")
    clock, info = track_clock(30, 0, 0.05, [128.0], None)
    assert info == {"clock": "asked", "bpm": 128.0, "start_bpm": None}
    assert torch.isfinite(clock).all()
    for bad in ([0.0], [float("nan")], [1000.0]):
        with pytest.raises(MelvaeError, match="bpm must be"):
            check_bpm(bad)


def test_clock_features_are_zero_without_a_clock():
    clock = torch.tensor([[[0.0, 120.0], [0.25, 240.0], [math.nan, math.nan]]])
    feats = clock_features(clock)
    assert feats.shape == (1, 3, 4)
    np.testing.assert_allclose(feats[0, 0], [0.0, 1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(feats[0, 1], [1.0, 0.0, 1.0, 1.0], atol=1e-6)
    assert torch.all(feats[0, 2] == 0)


# -- the clocked prior learns where the beat is -------------------------------------------------
def _pulse_sequences(n: int, frames: int, dt: float, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent sequences (n, 2, frames) whose channel 0 spikes on every beat, at tempos of
    100-140 BPM and random phases, with their clocks (n, frames, 2)."""
    bpm = rng.uniform(100, 140, n)
    phase = (rng.uniform(0, 1, n)[:, None] + np.arange(frames)[None] * dt * bpm[:, None] / 60) % 1
    pulse = np.exp(-0.5 * (np.minimum(phase, 1 - phase) / 0.05) ** 2)
    z = np.stack([pulse, 0.1 * rng.standard_normal(pulse.shape)], axis=1)
    clock = np.stack([phase, np.broadcast_to(bpm[:, None], phase.shape)], axis=-1)
    return torch.tensor(z, dtype=torch.float32), torch.tensor(clock, dtype=torch.float32)


@pytest.fixture
def one_thread():
    """Tiny models step far faster on one thread than on two that wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


DT = 0.0929  # seconds per latent frame: rate 4 at 22,050 Hz, hop 512


@pytest.fixture(scope="module")
def pulse_prior():
    """A beat prior trained on pulses at 100-140 BPM (channel 0) beside noise (channel 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models step far faster on one thread
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    z, clock = _pulse_sequences(16, 32, DT, rng)
    prior = BeatPrior(PriorConfig(kind="beat", channels=2, hidden=16, layers=1, mixtures=1))
    prior.set_statistics(z.transpose(1, 2).reshape(-1, 2))
    opt = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(120):
        loss = prior.nll(z, clock=clock)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
        opt.step()
    torch.set_num_threads(before)
    return prior.eval()


def test_the_beat_prior_puts_its_pulses_on_the_asked_beat(pulse_prior, one_thread):
    """Trained on pulses at 100-140 BPM, sampled with a 128 BPM clock for 4x its training
    windows: the pulses fall on the asked grid; sampled without a clock, they do not."""
    prior, dt = pulse_prior, DT
    frames = 128  # 11.9 s
    asked = steady_clock(frames, dt, [128.0])[None]
    phase = asked[0, :, 0].numpy()
    target = np.exp(-0.5 * (np.minimum(phase, 1 - phase) / 0.05) ** 2)
    locked = prior.sample(1, frames, temperature=0.0, seed=1, clock=asked)[0, 0].numpy()
    assert np.corrcoef(locked, target)[0, 1] > 0.6
    free = prior.sample(1, frames, temperature=0.0, seed=1)[0, 0].numpy()
    assert abs(np.corrcoef(free, target)[0, 1]) < 0.4


def _lag_correlation(x: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(x[lag:], x[:-lag])[0, 1])


def test_beat_coherent_draws_recur_one_beat_later(pulse_prior, one_thread):
    """On the beat grid (5 frames a beat), what the prior draws for its noise channel, which
    no clock predicts, recurs a beat later as strongly as ``repeat`` asks; drawn afresh, not."""
    grid = beat_grid(128.0, DT)
    frames = 400
    clock = steady_clock(frames, DT, [grid.tempo])[None]
    lag = grid.frames_per_beat
    corr = {}
    for weight in (0.0, 0.9):
        z = pulse_prior.sample(1, frames, 1.0, seed=4, clock=clock, repeat=Repeat(lag, weight))
        assert torch.isfinite(z).all()
        corr[weight] = _lag_correlation(z[0, 1].numpy(), lag)
    assert corr[0.9] > 0.6 and abs(corr[0.0]) < 0.25
    again = pulse_prior.sample(1, frames, 1.0, seed=4, clock=clock, repeat=Repeat(lag, 0.9))
    assert torch.equal(
        again, pulse_prior.sample(1, frames, 1.0, 4, None, None, clock, Repeat(lag, 0.9))
    )


class _Echo(Prior):
    """A prior whose frame is the noise it is given: the draws themselves, to test them."""

    label_embedding = None

    def __init__(self, width: int):
        super().__init__()
        self.noise_width = width
        self.cfg = PriorConfig(channels=max(width, 1))

    def set_statistics(self, z):
        pass

    def nll(self, z, labels=None, cond=None, clock=None):
        return torch.zeros(())

    def start(self, batch):
        return torch.zeros(batch, self.cfg.channels)

    def warm(self, z, labels=None, cond=None, clock=None):
        return self.start(len(z))

    def step(self, state, cond, clock, temperature, generator, noise=None):
        return noise if noise is not None else torch.randn(state.shape, generator=generator)


def test_beat_patterns_are_centred_carry_over_and_cycle():
    echo = _Echo(2)
    z = echo.sample(2000, 16, seed=1, repeat=Repeat(4, 0.6))  # (n, 2, 4 beats of 4 frames)
    beats = z.reshape(2000, 2, 4, 4)  # (n, width, beat, frame in the beat)
    torch.testing.assert_close(beats.mean(-1), torch.zeros(2000, 2, 4), atol=1e-5, rtol=0)
    spread = beats.std(-1, correction=0)  # unit mean square over the beat: no shrinking
    torch.testing.assert_close(spread, torch.ones(2000, 2, 4), atol=1e-4, rtol=0)
    a, b = beats[:, :, 1:].flatten(), beats[:, :, :-1].flatten()
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) == pytest.approx(0.6, abs=0.06)
    same = echo.sample(3, 20, seed=0, repeat=Repeat(4, 1.0))  # weight 1: every beat the same
    torch.testing.assert_close(same[..., 4:], same[..., :-4])
    looped = echo.sample(3, 40, seed=0, repeat=Repeat(4, 0.5, cycle=3))  # 3 beats, again
    assert torch.equal(looped[..., 12:], looped[..., :-12])
    assert not torch.allclose(looped[..., 4:8], looped[..., :4])
    with pytest.raises(ValueError, match="cannot make beat-coherent draws"):
        _Echo(0).sample(1, 4, repeat=Repeat(2, 0.5))
    with pytest.raises(ValueError):
        Repeat(1, 0.5)


# -- the beat grid ------------------------------------------------------------------------------
def test_the_beat_grid_is_a_whole_number_of_frames_per_beat():
    grid = beat_grid(128.0, DT)
    assert grid.frames_per_beat == 5 and grid.tempo == pytest.approx(60 / (5 * DT))
    assert grid.rate == pytest.approx(128.0 / grid.tempo) and abs(grid.rate - 1) < 0.02
    for bpm in np.linspace(40, 240, 41):
        g = beat_grid(float(bpm), DT)
        exact = 60 / (bpm * DT)  # frames a beat at this tempo
        assert abs(g.frames_per_beat - exact) <= 0.5
        assert g.tempo * g.rate == pytest.approx(bpm)  # stretched, exactly the tempo asked


def test_a_stretch_streamed_in_blocks_is_the_whole_stretch(rng):
    ramp = torch.arange(100, dtype=torch.float32)[None]
    np.testing.assert_allclose(stretch(ramp, 1.05, 90)[0], 1.05 * np.arange(90), rtol=1e-5)
    mel = torch.tensor(rng.standard_normal((3, 300)), dtype=torch.float32)
    for rate in (0.91, 1.0, 1.07):
        frames = 250
        need = grid_frames(frames, rate)
        whole = stretch(mel[:, :need], rate, frames)
        s, parts, i = StretchStream(rate, frames), [], 0
        while i < need:
            size = int(rng.integers(1, 40))
            parts.append(s.push(mel[:, i : min(need, i + size)]))
            i += size
        parts.append(s.finish())
        out = torch.cat(parts, dim=-1)
        assert out.shape == (3, frames)
        torch.testing.assert_close(out, whole)


def test_a_stretch_stays_on_the_mel_s_device():
    """The streamed stretch makes its positions where the mel is (a model on a GPU)."""
    s = StretchStream(1.05, 10)
    out = torch.cat([s.push(torch.zeros(2, 20, device="meta")), s.finish()], dim=-1)
    assert out.device.type == "meta" and out.shape == (2, 10)


def test_the_gru_prior_keeps_no_clock():
    prior = GRUPrior(PriorConfig(channels=2, hidden=8, layers=1))
    assert not prior.has_clock and BeatPrior(PriorConfig(kind="beat", channels=2)).has_clock


# -- --bpm and loops on a trained model ---------------------------------------------------------
@pytest.fixture(scope="module")
def beat(tiny_beat_run):
    return melvae.load(tiny_beat_run, device="cpu", n_iter=4)


def test_the_dataset_clock_reaches_the_prior(beat):
    assert beat.prior.has_clock and beat.info["prior_clock_share"] > 0.5


def test_longform_holds_the_asked_tempo_in_its_description(beat, tmp_path, rng):
    start = tmp_path / "start.wav"
    sf.write(start, tone_track(3.0, 8000, 220.0, rng), 8000)
    track, sr, info = beat.longform(6.0, start=str(start), bpm=150)
    assert track.shape == (6 * sr,) and np.isfinite(track).all()
    tempo = info["tempo"]
    assert tempo["clock"] == "asked" and tempo["bpm"] == 150.0
    # on the beat grid: a whole number of frames a beat, stretched to exactly 150 BPM
    assert tempo["grid_bpm"] / tempo["stretch"] == pytest.approx(150.0, rel=1e-4)
    free, _, plain = beat.longform(6.0, start=str(start), bpm=150, repeat=0.0)
    assert free.shape == track.shape and "grid_bpm" not in plain["tempo"]
    _, _, sched = beat.longform(6.0, bpm=[120, 150], seed=2)
    assert sched["tempo"]["bpm"] == [120.0, 150.0] and "grid_bpm" not in sched["tempo"]
    with pytest.raises(MelvaeError, match="repeat must be from 0 to 1"):
        beat.longform(6.0, bpm=150, repeat=1.5)


def test_clips_at_any_tempo_keep_their_length(beat):
    # at 300 BPM the grid's own tempo (6 frames a beat: 312.5 BPM) is past what one may ask
    for bpm, repeat in ((300.0, 0.8), (128.0, 0.0), (128.0, 0.8)):
        mels = beat.generate_mels(1, seed=1, bpm=bpm, repeat=repeat)
        assert mels.shape == (1, 32, TINY_AUDIO.segment_frames) and np.isfinite(mels).all()


def test_generate_and_interpolate_take_a_tempo(beat):
    a = beat.generate_mels(2, seed=3, bpm=128)
    b = beat.generate_mels(2, seed=3, bpm=128)
    assert a.shape == (2, 32, TINY_AUDIO.segment_frames) and np.array_equal(a, b)
    assert not np.allclose(a, beat.generate_mels(2, seed=3, bpm=90))
    low, high = beat.labels
    mels = beat.interpolate_mels(low, high, steps=3, bpm=128)
    assert mels.shape == (3, 32, TINY_AUDIO.segment_frames)


def test_loops_are_exact_and_wrap_without_a_click(tiny_beat_run, tmp_path):
    out = tmp_path / "loops"
    args = ["loops", str(tiny_beat_run), "--bpm", "120", "--bars", "2", "-n", "3", "-o", str(out)]
    assert main([*args, "--device", "cpu", "--iterations", "4"]) == 0
    info = json.loads((out / "loops.json").read_text())
    assert info["samples"] == loop_samples(120.0, 2, 8000) == 32000
    for record in info["loops"]:
        wave, sr = sf.read(out / record["file"], dtype="float32")
        assert len(wave) == info["samples"] and sr == 8000
        tiled = np.tile(wave, 2)
        step = np.abs(np.diff(tiled))
        # the sample step across the wrap is no larger than the loop's own largest steps
        assert step[len(wave) - 1] <= np.quantile(step, 0.999) + 1e-6
    assert info["repeat"] == 0.9
    free = tmp_path / "free"
    argv = [*args[:-1], str(free), "--repeat", "0", "--device", "cpu", "--iterations", "4"]
    assert main(argv) == 0
    assert json.loads((free / "loops.json").read_text())["samples"] == 32000


def test_repeat_outside_zero_to_one_is_refused(tiny_beat_run, tmp_path, capsys):
    argv = ["loops", str(tiny_beat_run), "--bpm", "120", "--repeat", "1.5"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "-o", str(tmp_path / "l")])
    assert exit_.value.code == 2 and "at most 1" in capsys.readouterr().err


def test_seamless_continues_the_tail_at_the_wrap():
    audio = np.sin(2 * np.pi * 3.3 * np.arange(1200) / 1000)[None].astype(np.float32)
    loop = seamless(audio, 1000, 100)
    assert loop.shape == (1, 1000)
    assert loop[0, 0] == pytest.approx(
        audio[0, 1000] * np.sqrt(1 - np.sin(0.5 * np.pi * 0.005) ** 2), abs=1e-3
    )
    np.testing.assert_array_equal(loop[0, 100:], audio[0, 100:1000])


def test_bpm_without_a_clock_is_one_clear_error(tiny_seq_run, tiny_run, tmp_path, capsys):
    for run, cmd in (
        (tiny_seq_run, ["generate", "-o", str(tmp_path / "g")]),
        (tiny_seq_run, ["longform", "--seconds", "3", "-o", str(tmp_path / "t.wav")]),
        (tiny_run, ["generate", "-o", str(tmp_path / "v")]),
    ):
        assert main([cmd[0], str(run), *cmd[1:], "--bpm", "128", "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "clocked prior" in err
    assert main(["loops", str(tiny_seq_run), "--bpm", "128", "-o", str(tmp_path / "l")]) == 2
    assert "clocked prior" in capsys.readouterr().err
    vec = melvae.load(tiny_run, device="cpu")
    with pytest.raises(MelvaeError, match="tempo schedule needs a sequence model"):
        vec.longform(3.0, bpm=[120, 128])


def test_lag_inputs_see_the_frame_one_beat_back(one_thread):
    """Teacher forced and streamed, the lag input of frame t is frame t - L (L frames a beat),
    so training and sampling see the same thing."""
    cfg = PriorConfig(
        kind="beat", channels=2, hidden=8, layers=1, lag_beats=(1,), frame_seconds=0.1
    )
    prior = BeatPrior(cfg).eval()
    assert prior.clock_width == 4 + 2
    B, T = 1, 12
    clock = steady_clock(T, 0.1, [150.0])[None]  # 150 BPM: 4 frames a beat
    prev = torch.arange(T * 2, dtype=torch.float32).reshape(1, T, 2)  # prev[:, t] = frame t-1
    feats = prior.frame_inputs(prev, clock, B, T)
    lag = feats[0, :, 4:]
    assert torch.all(lag[:4] == 0)  # no frame a beat back yet
    for t in range(4, T):  # frame t - 4 is prev[:, t - 3]
        assert torch.equal(lag[t], prev[0, t - 3])
    z = torch.randn(1, 2, 6)
    state = prior.warm(z, clock=clock[:, :6])
    assert state.history.shape == (1, 6, 2)
    frames = list(prior.stream(state, 3, 0.0, clock=clock[:, 6:9]))
    assert state.history.shape == (1, 9, 2) and all(f.shape == (1, 2) for f in frames)


def test_evaluate_draws_clips_at_the_held_out_tempos(tiny_beat_run, beat):
    from melvae.evaluation.evaluate import evaluate

    gen = evaluate(tiny_beat_run, split="all", max_segments=8, model=beat, progress=False)[
        "generation"
    ]
    assert 4 <= gen["clocked_clips"] <= 8
    assert np.isfinite(gen["clocked_frechet_ratio"]) and gen["clocked_diversity_ratio"] > 0
