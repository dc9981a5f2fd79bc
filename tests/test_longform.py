import numpy as np
import pytest
import torch

from melvae.audio.inversion import mel_to_audio
from melvae.audio.inverters import GriffinLim
from melvae.config import AudioConfig
from melvae.errors import MelvaeError
from melvae.evaluation.rhythm import seam_score
from melvae.generation.joins import latent_walk, plan_segments, render_segments

from .conftest import TINY_AUDIO

CFG = AudioConfig(
    sample_rate=8000, n_fft=256, hop_length=64, n_mels=32, segment_samples=4 * 8000
)  # 4 s segments


@pytest.mark.parametrize("seconds", [0.5, 4.0, 10.3, 61.7])
def test_plan_covers_exactly(seconds):
    plan = plan_segments(seconds, CFG)
    assert plan.total_samples == round(seconds * CFG.sample_rate)
    assert plan.positions[0] == 0
    assert all(b > a for a, b in zip(plan.positions, plan.positions[1:]))
    assert plan.positions[-1] + plan.used_frames >= plan.total_frames
    # Each segment overlaps the next (no gap), and the last one is needed.
    assert all(b < a + plan.used_frames for a, b in zip(plan.positions, plan.positions[1:]))
    assert len(plan.positions) == 1 or plan.positions[-2] + plan.used_frames < plan.total_frames


def test_plan_in_whole_bars_keeps_the_beat():
    bpm = 123.0
    plan = plan_segments(60.0, CFG, bpm=bpm)
    bar = 4 * 60 / bpm * CFG.sample_rate / CFG.hop_length  # frames
    assert plan.bar_frames == pytest.approx(bar)
    # 4 s segments hold 2 whole bars at 123 BPM: use 2, step 1 bar, overlap 1 bar.
    assert plan.used_frames == round(2 * bar)
    for k, pos in enumerate(plan.positions):
        assert abs(pos - k * bar) <= 0.5  # rounded per segment, never accumulated
    with pytest.raises(ValueError, match="whole bar"):
        plan_segments(60.0, CFG, bpm=50.0)  # a bar is 4.8 s: longer than a segment


def test_walk_starts_at_start_and_never_repeats():
    start = torch.randn(6)
    points = list(latent_walk(start, 23, steps_per_target=4, seed=0))
    assert len(points) == 23
    assert torch.equal(points[0].z, start) and points[0].source["kind"] == "start"
    z = torch.stack([p.z for p in points])
    dist = torch.cdist(z, z) + torch.eye(len(z)) * 1e9
    assert dist.min() > 1e-3  # no latent (hence no segment) used twice
    steps = torch.linalg.norm(z[1:] - z[:-1], dim=1)
    assert steps.max() < 3.0  # smooth: small moves, no jumps
    again = torch.stack([p.z for p in latent_walk(start, 23, steps_per_target=4, seed=0)])
    assert torch.equal(z, again)


def _smooth_decoder(cfg):
    """A stand-in for a model: each latent decodes to a steady chord whose pitch follows z."""
    bands = torch.arange(cfg.n_mels, dtype=torch.float32)

    def decode(z):
        centre = 8 + 4 * torch.tanh(z[:, :1])  # (B, 1)
        profile = torch.exp(-0.5 * ((bands[None] - centre) / 1.5) ** 2)  # (B, n_mels)
        mel = 0.4 + 0.5 * profile
        return mel[:, :, None].expand(-1, -1, cfg.segment_frames).contiguous()

    return decode


def _stream(plan, n_iter: int):
    """Griffin-Lim's stream for a planned track, in short chunks (chunk joins get tested)."""
    return GriffinLim(CFG, n_iter=n_iter).stream(plan.total_samples, seed=0, chunk_frames=256)


@pytest.mark.parametrize("seconds,bpm", [(13.3, None), (20.0, 120.0)])
def test_render_exact_length_and_segment_records(seconds, bpm):
    plan = plan_segments(seconds, CFG, bpm=bpm)
    walk = latent_walk(torch.zeros(3), len(plan.positions), seed=1)
    items = list(
        render_segments(_smooth_decoder(CFG), CFG, plan, walk, _stream(plan, 8), batch_size=3)
    )
    audio = np.concatenate([x for x in items if isinstance(x, np.ndarray)])
    records = [x for x in items if isinstance(x, dict)]
    assert audio.shape == (round(seconds * CFG.sample_rate),)
    assert np.all(np.isfinite(audio)) and np.sqrt(np.mean(audio**2)) > 1e-3
    assert [r["index"] for r in records] == list(range(len(plan.positions)))
    assert records[0]["start_seconds"] == 0.0
    assert all(r["end_seconds"] <= seconds + 1e-6 for r in records)


def test_joined_track_has_no_seams_where_butt_joins_do():
    cfg = CFG
    plan = plan_segments(24.0, cfg)
    decode = _smooth_decoder(cfg)
    walk = list(latent_walk(torch.zeros(3), len(plan.positions), steps_per_target=2, seed=3))
    items = render_segments(decode, cfg, plan, iter(walk), _stream(plan, 16))
    track = np.concatenate([x for x in items if isinstance(x, np.ndarray)])
    joins = [
        (b + a + plan.used_frames) / 2 * cfg.hop_length / cfg.sample_rate
        for a, b in zip(plan.positions, plan.positions[1:])
    ]
    ours = seam_score(track, cfg, joins)
    # The reference projects' way: invert each segment alone and butt-join them.
    mels = decode(torch.stack([p.z for p in walk]))
    pieces = [mel_to_audio(m, cfg, n_iter=16, seed=i) for i, m in enumerate(mels)]
    butt = np.concatenate(pieces)
    cut_joins = [len(pieces[0]) * (k + 1) / cfg.sample_rate for k in range(len(pieces) - 1)]
    theirs = seam_score(butt, cfg, cut_joins)
    assert ours < 1.5
    assert theirs > 1.5 * ours


def test_tiny_config_plan():
    plan = plan_segments(3.0, TINY_AUDIO)
    assert plan.used_frames == TINY_AUDIO.segment_frames


def test_vector_longform_refuses_a_temperature_schedule(tiny_run):
    import melvae

    model = melvae.load(tiny_run, device="cpu")
    with pytest.raises(MelvaeError, match="temperature schedule needs a sequence model"):
        model.longform(5, temperature=[0.5, 1.0])
    _, _, info = model.longform(3, temperature=[0.5])  # one value is one temperature
    assert info["seconds"] == pytest.approx(3.0, abs=0.05)
