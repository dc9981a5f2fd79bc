"""melvae.plots: the Hz axis of mel pictures, and figures drawn at the size they are read at."""

import numpy as np
import pytest
from PIL import Image

from melvae.audio.features import mel_to_hz
from melvae.config import AudioConfig
from melvae.plots import (
    hz_label,
    mel_band_of,
    save_history_pngs,
    save_mel_stack_png,
    save_mel_thumb_png,
)
from tests.conftest import TINY_AUDIO


@pytest.mark.parametrize("cfg", [AudioConfig(), TINY_AUDIO])
def test_hz_ticks_sit_on_the_bands_they_name(cfg):
    """Band k of the filterbank is centred at mel_lo + (k + 1) step: drawn over [0, n_mels],
    its centre is at k + 0.5, and mel_band_of puts that band's frequency there."""
    from melvae.audio.features import hz_to_mel

    lo, hi = hz_to_mel(cfg.fmin_hz), hz_to_mel(cfg.f_max)
    step = (hi - lo) / (cfg.n_mels + 1)
    k = np.arange(cfg.n_mels)
    centres = mel_to_hz(lo + (k + 1) * step)
    np.testing.assert_allclose(mel_band_of(centres, cfg), k + 0.5, atol=1e-9)
    assert mel_band_of(1000.0, cfg) < mel_band_of(2000.0, cfg)


def test_hz_labels():
    assert [hz_label(f) for f in (100, 500, 1000, 2500, 16000)] == [
        "100",
        "500",
        "1k",
        "2.5k",
        "16k",
    ]


def test_pictures_are_drawn_at_the_size_they_are_read_at(tmp_path):
    """Fixed inches and dpi: each PNG's pixel size is known, so its text stays legible where
    the page shows it (about 350 px for a card on a phone, 165 px for a tile)."""
    cfg = TINY_AUDIO
    mel = np.random.default_rng(0).random((cfg.n_mels, cfg.segment_frames)).astype(np.float32)
    stack = save_mel_stack_png([mel, mel], cfg, tmp_path / "stack.png")
    thumb = save_mel_thumb_png(mel, cfg, tmp_path / "thumb.png")
    assert Image.open(stack).size[0] == round(4.4 * 150)
    assert Image.open(thumb).size == (400, 220)
    history = tmp_path / "history.csv"
    history.write_text(
        "epoch,seconds,lr,train_loss,val_loss,train_recon,val_recon,train_kl,val_kl\n"
        + "".join(
            f"{e},1.0,0.001,{100 / e},{120 / e},{90 / e},{110 / e},10,10\n" for e in (1, 2, 3)
        )
    )
    pngs = save_history_pngs(history, tmp_path)
    assert [p.name for p in pngs] == ["curves_loss.png", "curves_terms.png"]
    assert all(Image.open(p).size == (660, 435) for p in pngs)
    history.write_text("epoch,seconds,lr,train_loss,val_loss\n")
    assert save_history_pngs(history, tmp_path / "none") == []
