import pytest
import torch

from melvae.config import CHECKPOINT_FORMAT_VERSION, ModelConfig, TrainConfig
from melvae.errors import MelvaeError
from melvae.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from melvae.models.vector import MelVAE

from .conftest import TINY_AUDIO, TINY_CHANNELS


def _model(**kw):
    cfg = ModelConfig(
        n_mels=TINY_AUDIO.n_mels,
        n_frames=TINY_AUDIO.segment_frames,
        latent_dim=3,
        channels=TINY_CHANNELS,
        **kw,
    )
    return MelVAE(cfg).eval()


def test_round_trip_gives_identical_outputs(tmp_path):
    model = _model(n_labels=2)
    # Non-trivial BatchNorm statistics must travel too.
    model.train()
    model(torch.rand(4, TINY_AUDIO.n_mels, TINY_AUDIO.segment_frames), torch.tensor([0, 1, 0, 1]))
    model.eval()
    centroids = torch.randn(2, 3)
    save_checkpoint(
        tmp_path / "m.pt", Checkpoint(model, TINY_AUDIO, ["a", "b"], centroids, {"epoch": 3})
    )
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.audio == TINY_AUDIO and loaded.labels == ["a", "b"]
    assert loaded.model.cfg == model.cfg and loaded.info == {"epoch": 3}
    assert torch.equal(loaded.label_centroids, centroids)
    z, labels = torch.randn(3, 3), torch.tensor([0, 1, 1])
    mel = torch.rand(3, TINY_AUDIO.n_mels, TINY_AUDIO.segment_frames)
    with torch.no_grad():
        assert torch.equal(model.decode(z, labels), loaded.model.decode(z, labels))
        assert torch.equal(model.encode(mel, labels)[0], loaded.model.encode(mel, labels)[0])
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_loads_with_weights_only(tmp_path):
    save_checkpoint(tmp_path / "m.pt", Checkpoint(_model(), TINY_AUDIO, []))
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert payload["format_version"] == CHECKPOINT_FORMAT_VERSION


def test_train_config_travels_and_is_optional(tmp_path):
    train = TrainConfig(epochs=3, val_fraction=0.25, seed=7)
    save_checkpoint(
        tmp_path / "m.pt", Checkpoint(_model(), TINY_AUDIO, [], train_config=train.to_dict())
    )
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert TrainConfig.from_dict(loaded.train_config) == train  # enough to rebuild the split

    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    del payload["train"], payload["checksum"]  # a checkpoint written before the keys existed
    torch.save(payload, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").train_config is None
    save_checkpoint(tmp_path / "none.pt", Checkpoint(_model(), TINY_AUDIO, []))
    assert load_checkpoint(tmp_path / "none.pt").train_config is None


def test_run_folder_resolves_to_best(tmp_path):
    save_checkpoint(tmp_path / "last.pt", Checkpoint(_model(), TINY_AUDIO, [], info={"w": "last"}))
    assert load_checkpoint(tmp_path).info == {"w": "last"}
    save_checkpoint(tmp_path / "best.pt", Checkpoint(_model(), TINY_AUDIO, [], info={"w": "best"}))
    assert load_checkpoint(tmp_path).info == {"w": "best"}


def test_other_format_version_is_refused(tmp_path):
    save_checkpoint(tmp_path / "m.pt", Checkpoint(_model(), TINY_AUDIO, []))
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["format_version"] = CHECKPOINT_FORMAT_VERSION + 1
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(MelvaeError, match="checkpoint format"):
        load_checkpoint(tmp_path / "m.pt")


@pytest.mark.parametrize("content", [b"not a checkpoint", None])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "x.pt"
    if content is None:
        torch.save({"some": "dict"}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(MelvaeError, match="not a melvae checkpoint"):
        load_checkpoint(path)
    with pytest.raises(MelvaeError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "empty_dir_is_missing")
    (tmp_path / "d").mkdir()
    with pytest.raises(MelvaeError, match="run folder"):
        load_checkpoint(tmp_path / "d")


def test_format_2_files_with_the_old_key_names_still_load(tmp_path):
    from melvae.models.checkpoint import OLD_KEYS

    train = TrainConfig(epochs=3, seed=5)
    new = Checkpoint(_model(), TINY_AUDIO, ["a"], train_config=train.to_dict())
    save_checkpoint(tmp_path / "m.pt", new)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    for key, old in OLD_KEYS.items():
        payload[old] = payload.pop(key)
    payload["format_version"] = 2
    del payload["checksum"]  # format 2 files have none
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert loaded.audio == TINY_AUDIO and loaded.labels == ["a"]
    assert TrainConfig.from_dict(loaded.train_config) == train
    assert loaded.model.cfg == new.model.cfg


def test_a_checkpoint_holds_its_runs_configuration_under_the_keys_of_config_json(tiny_seq_run):
    import json

    saved = json.loads((tiny_seq_run / "config.json").read_text())
    for name in ("best.pt", "last.pt"):
        payload = torch.load(tiny_seq_run / name, weights_only=True)
        for key in ("audio", "model", "train", "labels"):
            assert json.loads(json.dumps(payload[key])) == saved[key], (name, key)
