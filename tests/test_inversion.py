import numpy as np
import pytest
import torch

from melvae.audio.features import log_mel, stft
from melvae.audio.inversion import StreamingInverter, griffin_lim, mel_to_audio, mel_to_magnitude
from melvae.config import AudioConfig
from melvae.evaluation.metrics import spectral_convergence_db

from .conftest import tone_track

CFG = AudioConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, segment_samples=16000)


@pytest.fixture
def music():
    return torch.from_numpy(tone_track(3.0, CFG.sample_rate, 220.0, np.random.default_rng(0)))


def _sc(wave_true, wave_est):
    return spectral_convergence_db(stft(wave_true, CFG).abs(), stft(wave_est, CFG).abs())


def test_fast_griffin_lim_recovers_a_known_signal(music):
    mag = stft(music, CFG).abs()
    gen = torch.Generator().manual_seed(0)
    fast = griffin_lim(mag, CFG, n_iter=64, generator=gen, length=len(music))
    plain = griffin_lim(
        mag,
        CFG,
        n_iter=64,
        momentum=0.0,
        generator=torch.Generator().manual_seed(0),
        length=len(music),
    )
    sc_fast, sc_plain = _sc(music, fast), _sc(music, plain)
    assert sc_fast < -20.0  # measured about -30 dB
    assert sc_fast < sc_plain - 3.0  # the momentum term is what makes it fast
    zero_phase = _sc(
        music,
        torch.istft(
            torch.polar(mag * 256, torch.zeros_like(mag)),
            512,
            128,
            window=torch.hann_window(512),
            length=len(music),
        ),
    )
    assert sc_fast < zero_phase - 15.0


def test_batched_and_seeded(music):
    mag = stft(torch.stack([music, music.flip(0)]), CFG).abs()
    a = griffin_lim(mag, CFG, n_iter=8, generator=torch.Generator().manual_seed(3))
    b = griffin_lim(mag, CFG, n_iter=8, generator=torch.Generator().manual_seed(3))
    assert a.shape == (2, (mag.shape[-1] - 1) * CFG.hop_length)
    assert torch.equal(a, b)


def test_mel_inversion_is_finite_right_length_and_close(music):
    mel = log_mel(music, CFG)
    audio = mel_to_audio(mel, CFG, n_iter=32, seed=0)
    assert audio.dtype == np.float32 and np.all(np.isfinite(audio))
    assert audio.shape == ((mel.shape[-1] - 1) * CFG.hop_length,)
    assert np.array_equal(audio, mel_to_audio(mel, CFG, n_iter=32, seed=0))
    # The mel bottleneck limits quality; still far better than nothing.
    assert _sc(music[: len(audio)], torch.from_numpy(audio)) < -5.0


def test_nnls_refinement_does_not_hurt(music):
    mag = stft(music, CFG).abs()
    mel = log_mel(music, CFG)
    sc0 = spectral_convergence_db(mag, mel_to_magnitude(mel, CFG, nnls_steps=0))
    sc10 = spectral_convergence_db(mag, mel_to_magnitude(mel, CFG, nnls_steps=10))
    sc50 = spectral_convergence_db(mag, mel_to_magnitude(mel, CFG, nnls_steps=50))
    assert sc10 <= sc0 + 1e-6
    assert sc50 < sc0 - 1.0  # the accelerated NNLS is worth its steps
    assert (mel_to_magnitude(mel, CFG) >= 0).all()


@pytest.mark.parametrize("push", [7, 100, 1000])
def test_streaming_inverter_exact_length_and_quality(music, push):
    mag = stft(music, CFG).abs()
    inverter = StreamingInverter(CFG, chunk_frames=96, overlap_frames=24, n_iter=32, seed=0)
    blocks = []
    for i in range(0, mag.shape[-1], push):
        blocks += inverter.push(mag[:, i : i + push])
    blocks += inverter.finish()
    audio = np.concatenate(blocks)
    assert audio.shape == ((mag.shape[-1] - 1) * CFG.hop_length,)
    assert np.all(np.isfinite(audio))
    assert _sc(music[: len(audio)], torch.from_numpy(audio)) < -15.0


def test_streaming_matches_one_pass_quality(music):
    mag = stft(music, CFG).abs()
    one = griffin_lim(mag, CFG, n_iter=32, generator=torch.Generator().manual_seed(0))
    inverter = StreamingInverter(CFG, chunk_frames=128, overlap_frames=32, n_iter=32, seed=0)
    audio = np.concatenate(inverter.push(mag) + inverter.finish())
    # Chunking costs a little quality, never a lot.
    assert _sc(music[: len(audio)], torch.from_numpy(audio)) < _sc(music[: len(one)], one) + 4.0


def test_init_option_pghi_and_its_validation(music):
    mag = stft(music, CFG).abs()
    gen = torch.Generator().manual_seed(0)
    a = griffin_lim(mag, CFG, n_iter=4, generator=gen, init="pghi")
    b = griffin_lim(mag, CFG, n_iter=4, generator=torch.Generator().manual_seed(0), init="pghi")
    assert torch.equal(a, b)
    # An explicit initial phase wins over init.
    phase = torch.polar(torch.ones_like(mag), torch.zeros_like(mag))
    c = griffin_lim(mag, CFG, n_iter=2, init_phase=phase, init="pghi")
    assert torch.equal(c, griffin_lim(mag, CFG, n_iter=2, init_phase=phase))
    mel = log_mel(music, CFG)
    audio = mel_to_audio(mel, CFG, n_iter=8, seed=0, init="pghi")
    assert audio.shape == ((mel.shape[-1] - 1) * CFG.hop_length,) and np.all(np.isfinite(audio))
    assert np.array_equal(audio, mel_to_audio(mel, CFG, n_iter=8, seed=0, init="pghi"))
    for bad in (
        lambda: griffin_lim(mag, CFG, n_iter=1, init="zero"),
        lambda: mel_to_audio(mel, CFG, n_iter=1, init="zero"),
        lambda: StreamingInverter(CFG, init="zero"),
    ):
        with pytest.raises(ValueError):
            bad()


def test_streaming_inverter_with_pghi_init(music):
    mag = stft(music, CFG).abs()
    out = {}
    for init in ("random", "pghi"):
        inverter = StreamingInverter(
            CFG, chunk_frames=96, overlap_frames=24, n_iter=16, seed=0, init=init
        )
        blocks = []
        for i in range(0, mag.shape[-1], 50):
            blocks += inverter.push(mag[:, i : i + 50])
        audio = np.concatenate(blocks + inverter.finish())
        assert audio.shape == ((mag.shape[-1] - 1) * CFG.hop_length,)
        out[init] = _sc(music[: len(audio)], torch.from_numpy(audio))
    # Measured: -24.9 vs -17.5 dB; each chunk continues the carried phase.
    assert out["pghi"] < out["random"] - 3.0
