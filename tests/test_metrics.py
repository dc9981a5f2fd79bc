import numpy as np
import pytest
import torch

from melvae.config import AudioConfig
from melvae.metrics import (
    PITCH_CLASSES,
    _framewise,
    audio_embedding,
    diversity,
    embedding_names,
    frechet_distance,
    kernel_distance,
    knn_label_accuracy,
    log_spectral_distance_db,
    magnitude,
    nearest_neighbour_distance,
    onset_envelope,
    pulse_clarity,
    regular_marks,
    seam_score,
    spectral_convergence_db,
    spectral_flux,
    standardize,
    tempo_bpm,
    tempo_stability,
    temporal_detail,
    timbre_jump_ratio,
    windowed_tempo_bpm,
)

from .conftest import TINY_AUDIO, tone_track


def test_spectral_convergence_known_values():
    ref = np.abs(np.random.default_rng(0).standard_normal((10, 20))) + 0.1
    assert spectral_convergence_db(ref, ref) == float("-inf")
    assert spectral_convergence_db(ref, ref * 1.1) == pytest.approx(-20.0)  # 10% error: -20 dB
    assert spectral_convergence_db(ref, 0 * ref) == pytest.approx(0.0)
    worse = spectral_convergence_db(ref, ref * 1.5)
    assert worse > spectral_convergence_db(ref, ref * 1.1)


def test_log_spectral_distance_known_values():
    ref = np.ones((8, 5))
    assert log_spectral_distance_db(ref, ref) == pytest.approx(0.0, abs=1e-6)
    assert log_spectral_distance_db(ref, ref * 10) == pytest.approx(20.0, abs=1e-3)


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


def test_magnitude_shape():
    cfg = TINY_AUDIO
    mag = magnitude(np.zeros(cfg.segment_samples, np.float32), cfg)
    assert mag.shape == (cfg.n_freqs, cfg.segment_frames)


# -- the clip embedding ------------------------------------------------------------------------


def click_track(seconds: float, bpm: float, sample_rate: int = 8000, seed: int = 0) -> np.ndarray:
    """A short decaying noise burst on every beat: the plainest possible beat."""
    rng = np.random.default_rng(seed)
    wave = np.zeros(int(seconds * sample_rate), np.float32)
    burst = rng.standard_normal(200) * np.exp(-np.arange(200) / 30.0) * 0.5
    for beat in np.arange(0.0, seconds, 60.0 / bpm):
        i = int(beat * sample_rate)
        n = min(len(burst), len(wave) - i)
        wave[i : i + n] += burst[:n]
    return wave


def test_audio_embedding_shape_names_and_determinism():
    cfg = TINY_AUDIO
    rng = np.random.default_rng(0)
    clips = np.stack([tone_track(1.0, cfg.sample_rate, f, rng) for f in (110.0, 220.0, 330.0)])
    emb = audio_embedding(clips, cfg)
    names = embedding_names(cfg)
    assert emb.shape == (3, len(names)) == (3, 2 * 20 + 24 + 14 + 3)
    assert len(set(names)) == len(names)
    assert np.all(np.isfinite(emb))
    np.testing.assert_array_equal(emb, audio_embedding(clips, cfg))  # deterministic
    np.testing.assert_allclose(audio_embedding(clips[1], cfg), emb[1], rtol=1e-6)  # 1-D input
    silent = audio_embedding(np.zeros(cfg.segment_samples, np.float32), cfg)
    assert np.all(np.isfinite(silent))
    assert silent[names.index("onset_autocorr_peak")] == 0.0


def test_audio_embedding_dimensions_mean_what_they_say():
    cfg = TINY_AUDIO
    names = embedding_names(cfg)
    t = np.arange(cfg.segment_samples) / cfg.sample_rate
    tone = (0.5 * np.sin(2 * np.pi * 880.0 * t)).astype(np.float32)  # an A (880 Hz)
    noise = 0.3 * np.random.default_rng(0).standard_normal(cfg.segment_samples)
    beat = click_track(4.0, 120.0)
    steady_noise = 0.1 * np.random.default_rng(1).standard_normal(len(beat))
    emb = audio_embedding(np.stack([tone, 0.1 * tone, noise.astype(np.float32)]), cfg)
    chroma = [emb[0, names.index(f"chroma_{p}_mean")] for p in PITCH_CLASSES]
    assert PITCH_CLASSES[int(np.argmax(chroma))] == "A"
    assert emb[0, names.index("mfcc0_mean")] > emb[1, names.index("mfcc0_mean")] + 10  # louder
    # 880 Hz lies in band 4 ([500, 1000) Hz at 8 kHz): a sine has a sharp peak, noise none.
    band = names.index("contrast4_mean")
    assert emb[0, band] > emb[2, band] + 20
    rhythm = audio_embedding(np.stack([beat, steady_noise.astype(np.float32)]), cfg)
    peak = names.index("onset_autocorr_peak")
    assert rhythm[0, peak] > 0.5 > rhythm[1, peak]


# -- distances between sets --------------------------------------------------------------------


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 6))
    y = rng.standard_normal((400, 6))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    same = frechet_distance(x, y)
    shifted = frechet_distance(x, y + 1.0)
    scaled = frechet_distance(x, 2.0 * y)
    assert same < 0.3
    assert shifted > 5.0 > same  # ||mu||^2 adds 6 x 1^2
    assert shifted == pytest.approx(same + 6.0, abs=0.5)
    assert scaled > 1.0 > same  # Tr term: 6 x (1 - 2)^2 = 6
    # Unstandardized, on the raw scale, a pure shift gives exactly ||mu_x - mu_y||^2.
    assert frechet_distance(x, x + 3.0, standardized=False) == pytest.approx(6 * 9.0)


def test_frechet_distance_standardizes_with_the_reference_set():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 3)) * np.array([1.0, 100.0, 0.01])
    y = x + x.std(0)  # one reference std in every feature, whatever its scale
    assert frechet_distance(x, y) == pytest.approx(3.0, rel=1e-6)
    # A constant feature is only centred, not divided by a zero std.
    const = np.hstack([x, np.ones((300, 1))])
    assert np.all(np.isfinite(standardize(const, const)))
    moved = const.copy()
    moved[:, 3] += 0.5
    assert frechet_distance(const, moved) == pytest.approx(0.25, rel=1e-6)


def test_kernel_distance_known_answers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 8))
    y = rng.standard_normal((200, 8))
    same = kernel_distance(x, y)
    assert abs(same) < 0.05  # unbiased: scatters around 0 for one distribution
    assert kernel_distance(x, y + 1.0) > 10 * max(abs(same), 0.01)
    assert kernel_distance(x, 1.5 * y) > kernel_distance(x, 1.1 * y) > same
    with pytest.raises(ValueError):
        kernel_distance(x[:1], y)


def test_knn_label_accuracy_separated_and_shuffled():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 60)
    centres = {"a": 0.0, "b": 10.0, "c": 20.0}
    z = rng.standard_normal((180, 4)) + np.array([centres[lab] for lab in labels])[:, None]
    assert knn_label_accuracy(z, labels, k=5) == 1.0
    shuffled = rng.permutation(labels)
    acc = knn_label_accuracy(z, shuffled, k=5)
    assert abs(acc - 1 / 3) < 0.15  # chance is 1/3
    # Groups: an item's own group cannot vote. Four tracks, each a tight cluster; the nearest
    # other track always has the other label, so only same-track neighbours were right.
    centre = {"a1": 0.0, "b1": 1.0, "a2": 10.0, "b2": 11.0}
    tracks = np.repeat(list(centre), 10)
    z = np.array([centre[t] for t in tracks])[:, None] + 0.01 * rng.standard_normal((40, 1))
    track_labels = [t[0] for t in tracks]
    assert knn_label_accuracy(z, track_labels, k=1) == 1.0
    assert knn_label_accuracy(z, track_labels, k=1, groups=tracks) == 0.0


def test_diversity_and_nearest_neighbour_known_values():
    line = np.array([[0.0], [1.0], [2.0]])
    assert diversity(line) == pytest.approx(4.0 / 3.0)  # (1 + 2 + 1) / 3
    assert diversity(np.zeros((5, 3))) == 0.0
    train = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    gen = np.array([[0.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(nearest_neighbour_distance(gen, train), [0.0, 3.0])
    ids = np.arange(3)
    np.testing.assert_allclose(
        nearest_neighbour_distance(train, train, ids, ids), [5.0, 5.0, np.sqrt(65.0)], rtol=1e-4
    )
    with pytest.raises(ValueError):
        nearest_neighbour_distance(gen, train, ids[:2])


# -- rhythm ------------------------------------------------------------------------------------


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


def test_blockwise_features_equal_the_whole_signal_ones():
    cfg = TINY_AUDIO
    wave = tone_track(6.0, cfg.sample_rate, 220.0, np.random.default_rng(3))[:-37]
    for fn in (
        lambda w: onset_envelope(w[None], cfg)[0],  # 2-D input: never cut into blocks
        lambda w: spectral_flux(w, cfg),  # 750 frames: below its block size
    ):
        whole = fn(wave)
        blocks = _framewise(wave, cfg, fn, block_frames=50)
        np.testing.assert_allclose(blocks, whole, rtol=1e-5, atol=1e-6)
        assert len(blocks) == len(wave) // cfg.hop_length + 1


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


# -- temporal detail and timbre jumps ----------------------------------------------------------


def test_temporal_detail_known_values():
    rng = np.random.default_rng(0)
    original = rng.uniform(0.0, 1.0, (3, 8, 50))
    smear = np.broadcast_to(original.mean(-1, keepdims=True), original.shape).copy()
    np.testing.assert_allclose(temporal_detail(original, original), 1.0)
    np.testing.assert_allclose(temporal_detail(smear, original), 0.0, atol=1e-12)
    # Halfway between smear and original: a quarter of the smear's squared error.
    np.testing.assert_allclose(temporal_detail((original + smear) / 2, original), 0.75)
    # Mirrored about the band means: twice the smear's deviation, four times its error.
    np.testing.assert_allclose(temporal_detail(2 * smear - original, original), -3.0)
    # Torch input, one segment at a time, and extra frames cropped away.
    both = temporal_detail(torch.from_numpy(smear[:1]), torch.from_numpy(original[:1]))
    assert both.shape == (1,) and both[0] == pytest.approx(0.0, abs=1e-12)
    longer = np.concatenate([original, original[..., :5]], axis=-1)
    np.testing.assert_allclose(temporal_detail(longer, original), 1.0)
    # A constant segment has no time detail: NaN for it alone.
    flat = original.copy()
    flat[1] = 0.3
    out = temporal_detail(original + 0.01, flat)
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
    with pytest.raises(ValueError):
        temporal_detail(original[:, :4], original)


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
