import csv
import json
import math
import shutil

import pytest
import torch

from melvae.config import TrainConfig
from melvae.errors import MelvaeError
from melvae.models.checkpoint import load_checkpoint
from melvae.training.task import VAETask
from melvae.training.train import train

from .conftest import TINY_CHANNELS


def _history(run):
    with open(run / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_run_folder_contents(tiny_run):
    for name in ("best.pt", "last.pt", "history.csv", "curves.png", "config.json", "resume.ckpt"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = _history(tiny_run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(float(r["val_loss"])) for r in rows)
    assert float(rows[-1]["train_recon"]) < float(rows[0]["train_recon"])  # it learns
    best = load_checkpoint(tiny_run / "best.pt")
    assert best.info["best_score"] == pytest.approx(min(float(r["val_loss"]) for r in rows))
    assert best.labels == ["high", "low"]
    assert best.label_centroids.shape == (2, 4)
    assert not best.model.training
    saved = json.loads((tiny_run / "config.json").read_text())
    assert best.train_config == saved["train"]  # the split rebuilds without config.json


def test_resume_continues_where_it_stopped(tiny_run, tiny_data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    result = train(tiny_data, run, TrainConfig(epochs=6), resume=True, device="cpu", progress=False)
    assert [int(r["epoch"]) for r in _history(run)] == [1, 2, 3, 4, 5, 6]
    assert result.epochs == 6
    assert load_checkpoint(run / "last.pt").model.cfg.latent_dim == 4  # its own config


def test_resume_refuses_changed_settings(tiny_run, tiny_data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)  # saved: batch_size 8, lr 1e-3 (the default), beta 1
    given = TrainConfig(epochs=6, batch_size=32, lr=0.01, devices=2, strategy="ddp")
    with pytest.raises(MelvaeError) as err:
        train(tiny_data, run, given, resume=True, device="cpu", progress=False)
    message = str(err.value)
    assert message.startswith("--resume keeps the run's settings: ")
    assert "batch_size is 8 in the run, 32 given" in message
    assert "lr is 0.001 in the run, 0.01 given" in message
    assert message.endswith("start a new run to change them")
    # Left at their defaults (beta None: the kind's default), or the run's own values, or
    # what resuming may change: not refused.
    for name in ("beta", "seed", "epochs", "devices", "strategy", "val_fraction"):
        assert f"{name} is" not in message
    same = TrainConfig(epochs=5, batch_size=8, val_fraction=0.34, kl_warmup_epochs=2)
    result = train(tiny_data, run, same, resume=True, device="cpu", progress=False)
    assert result.epochs == 5


def test_progress_in_a_log_is_one_line_per_epoch(tiny_data, tmp_path, capfd, monkeypatch):
    from melvae.training import run_folder as train_run

    drawn = []  # epochs in history.csv at each curves.png redraw
    monkeypatch.setattr(train_run, "CURVES_EVERY_SECONDS", 1e9)  # however slow the epochs
    monkeypatch.setattr(
        train_run, "plot_history", lambda csv_path, png: drawn.append(len(_history(tmp_path / "r")))
    )
    cfg = TrainConfig(epochs=3, batch_size=8, val_fraction=0.34)
    train(
        tiny_data,
        tmp_path / "r",
        cfg,
        kind="vector",
        latent_dim=3,
        channels=TINY_CHANNELS,
        device="cpu",
    )
    out, err = capfd.readouterr()  # captured: not a terminal, as in `melvae train > log`
    assert "\r" not in out + err  # Lightning's bar writes to stdout
    epochs = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "val_loss" in epochs[0]
    # The curves are drawn after the first epoch, then at most every 30 s, and at the end.
    assert drawn == [1, 3]


def test_conditional_training_and_bad_requests(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=8, conditional=True, val_fraction=0.34)
    train(
        tiny_data,
        tmp_path / "c",
        cfg,
        kind="vector",
        latent_dim=3,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
    )
    model = load_checkpoint(tmp_path / "c").model
    assert model.cfg.n_labels == 2
    with pytest.raises(MelvaeError, match="nothing to resume"):
        train(tiny_data, tmp_path / "none", TrainConfig(epochs=1), resume=True, progress=False)
    with pytest.raises(MelvaeError, match="unknown device"):
        train(
            tiny_data,
            tmp_path / "d",
            TrainConfig(epochs=1),
            channels=TINY_CHANNELS,
            device="tpu9",
            progress=False,
        )


def test_ctrl_c_keeps_checkpoints(tiny_data, tmp_path, monkeypatch):
    original = VAETask.training_step

    def interrupting(self, batch, batch_idx):
        if self.current_epoch == 1 and batch_idx == 1:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(VAETask, "training_step", interrupting)
    cfg = TrainConfig(epochs=5, batch_size=4, val_fraction=0.34)
    result = train(
        tiny_data,
        tmp_path / "r",
        cfg,
        kind="vector",
        latent_dim=3,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
    )
    assert result.interrupted
    last = load_checkpoint(tmp_path / "r" / "last.pt")
    assert last.info.get("finished") is False  # the weights of the interrupted epoch
    assert (tmp_path / "r" / "best.pt").is_file()
    assert len(_history(tmp_path / "r")) == 1  # the finished epoch is recorded
    import signal

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_max_minutes_stops_cleanly(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=1000, max_minutes=0.002, batch_size=8, val_fraction=0.34)
    result = train(
        tiny_data,
        tmp_path / "t",
        cfg,
        kind="vector",
        latent_dim=3,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
    )
    assert result.epochs < 1000
    assert (tmp_path / "t" / "best.pt").is_file() or (tmp_path / "t" / "last.pt").is_file()
    torch.load(tmp_path / "t" / "last.pt", weights_only=True)


def test_a_fresh_run_never_keeps_another_runs_checkpoints(tiny_run, tiny_data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = TrainConfig(epochs=1, batch_size=8, val_fraction=0.34)
    train(
        tiny_data,
        run,
        cfg,
        kind="vector",
        latent_dim=2,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
        overwrite=True,  # without it the run is refused (test_reliability.py)
    )
    assert load_checkpoint(run / "best.pt").model.cfg.latent_dim == 2
    assert [int(r["epoch"]) for r in _history(run)] == [1]


@pytest.mark.parametrize("kind", ["vector", "sequence"])
def test_the_end_of_a_run_encodes_the_data_once_per_set_of_weights(
    kind, tiny_data, tmp_path, monkeypatch
):
    from melvae.data.dataset import MelDataset, split_for_run
    from melvae.layout import read_run_config
    from melvae.models.vae_base import VAEBase

    passes = []
    original = VAEBase.encode_batched

    def counting(self, mels, labels=None, indices=None, batch_size=32):
        passes.append(len(indices))
        return original(self, mels, labels, indices, batch_size)

    monkeypatch.setattr(VAEBase, "encode_batched", counting)
    cfg = TrainConfig(epochs=1, batch_size=8, val_fraction=0.34, prior_epochs=1)
    size = {"latent_dim": 4} if kind == "vector" else {"latent_channels": 4}
    train(
        tiny_data,
        tmp_path / "run",
        cfg,
        kind=kind,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
        **size,
    )
    train_idx, val_idx = split_for_run(
        MelDataset(tiny_data).segments, read_run_config(tmp_path / "run")
    )
    # One epoch: the last weights are the best. One pass serves the centroids, the active
    # units and (sequence kind) the prior, which also sees the validation segments.
    assert passes == [len(train_idx) + (len(val_idx) if kind == "sequence" else 0)]
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert torch.equal(best.label_centroids, last.label_centroids)
    if kind == "sequence":
        assert best.prior is not None


def test_centroids_are_each_labels_mean_latent(tiny_run, tiny_data):
    from melvae.data.dataset import MelDataset, split_for_run
    from melvae.layout import read_run_config

    best = load_checkpoint(tiny_run / "best.pt")
    data = MelDataset(tiny_data)
    train_idx = split_for_run(data.segments, read_run_config(tiny_run))[0]
    mu = best.model.encode_batched(data.mels, data.label_ids, train_idx)[0]
    for label in range(2):
        rows = [k for k, i in enumerate(train_idx) if data.label_ids[i] == label]
        expected = mu[rows].mean(0)
        assert torch.allclose(best.label_centroids[label], expected, atol=1e-5)


def test_fit_prior_on_run_keeps_the_autoencoder_and_writes_a_run(tiny_seq_run, tiny_run, tmp_path):
    from melvae.training.prior import fit_prior_on_run

    out = tmp_path / "refit"
    facts = fit_prior_on_run(tiny_seq_run, out, minutes=None, epochs=2, progress=False)
    assert facts["prior_kind"] == "gru" and facts["prior_epochs"] == 2
    old, new = load_checkpoint(tiny_seq_run / "best.pt"), load_checkpoint(out / "best.pt")
    for key, value in old.model.state_dict().items():
        assert torch.equal(value, new.model.state_dict()[key]), key
    assert new.prior is not None and new.info["prior_epochs"] == 2
    assert not all(
        torch.equal(a, b)
        for a, b in zip(old.prior.state_dict().values(), new.prior.state_dict().values())
    )
    assert json.loads((out / "config.json").read_text()) == json.loads(
        (tiny_seq_run / "config.json").read_text()
    )
    with pytest.raises(MelvaeError, match="unknown prior"):
        fit_prior_on_run(tiny_seq_run, tmp_path / "x", minutes=None, prior="nope")
    with pytest.raises(MelvaeError, match="vector"):
        fit_prior_on_run(tiny_run, tmp_path / "y", minutes=None, epochs=1)
