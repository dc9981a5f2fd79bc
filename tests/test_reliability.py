"""Nothing lost, nothing torn: a trained run is never replaced unasked, one writer per folder,
checksummed files, and every fault of the disk or of a file is one clear line (exit 2) that
leaves the earlier good files byte-identical.

A full disk and a read-only file system are simulated by patching the calls melvae.safeio
makes (mounting a small file system needs privileges tests do not have)."""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from melvae import safeio
from melvae.cli import main
from melvae.errors import MelvaeError

from .test_cli import TINY_PREPROCESS_FLAGS

TINY_TRAIN = ["--batch-size", "8", "--val-fraction", "0.34", "-q", "--device", "cpu"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def one_line(capsys, argv: list[str], code: int = 2) -> str:
    """Run ``melvae ARGV``: it must exit ``code`` with one line on stderr; returns the line."""
    assert main(argv) == code, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("melvae: error: "), err
    return err[0]


def fail_fsync(monkeypatch, code: int = errno.ENOSPC, only: str = "") -> None:
    """The disk fills (or fails) at the moment a file's bytes are synced to it (only the
    temporaries of files named ``only``, where given)."""
    fsync_of_the_disk = os.fsync

    def fsync(fd):
        if only and f".{only}." not in os.readlink(f"/proc/self/fd/{fd}"):
            return fsync_of_the_disk(fd)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(safeio.os, "fsync", fsync)


def read_only(monkeypatch) -> None:
    """Making any file fails as on a read-only file system."""

    def refuse(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(safeio, "open", refuse, raising=False)


# -- the building blocks ----------------------------------------------------------------------
def test_atomic_write_keeps_the_old_file_and_no_temporary_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    safeio.write_text(path, "old")
    with pytest.raises(RuntimeError), safeio.atomic_write(path) as fh:
        fh.write(b"new, half")
        raise RuntimeError("cut")
    fail_fsync(monkeypatch)
    with pytest.raises(OSError) as info:
        safeio.write_text(path, "new")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["f.txt"]


def test_a_group_renames_nothing_unless_every_file_is_written(tmp_path):
    for name in "abc":
        safeio.write_text(tmp_path / name, "old")
    before = snapshot(tmp_path)
    with pytest.raises(KeyboardInterrupt), safeio.AtomicGroup() as group:
        group.write_text(tmp_path / "a", "new")
        group.write_text(tmp_path / "b", "new")
        raise KeyboardInterrupt
    assert snapshot(tmp_path) == before
    with safeio.AtomicGroup() as group:
        for name in "abc":
            group.write_text(tmp_path / name, "new")
    assert {p.read_text() for p in tmp_path.iterdir()} == {"new"}


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "no space left"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_os_errors_read_as_one_sentence_naming_the_file(code, words):
    message = safeio.os_error_message(OSError(code, os.strerror(code), "/x/best.pt"))
    assert words in message and "/x/best.pt" in message and "\n" not in message


def test_output_paths_are_checked_before_the_work(tiny_run, tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    assert "is a file" in one_line(
        capsys, ["generate", str(tiny_run), "-o", str(tmp_path / "file")]
    )
    assert "is a folder" in one_line(
        capsys, ["longform", str(tiny_run), "-o", str(tmp_path / "folder")]
    )
    # A folder the user may not write to (or a read-only disk): refused up front.
    monkeypatch.setattr(safeio.os, "access", lambda path, mode: False)
    line = one_line(capsys, ["longform", str(tiny_run), "-o", str(tmp_path / "new" / "t.wav")])
    assert str(tmp_path) in line and ("permission denied" in line or "read-only" in line)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["longform", "R", "-o", "t.wav", "--seconds", "1e9"], "at most"),
        (["longform", "R", "-o", "t.wav", "--seconds", "inf"], "finite"),
        (["longform", "R", "-o", "t.wav", "--temperature", "inf"], "temperatures"),
        (["generate", "R", "-o", "g", "--temperature", "inf"], "finite"),
        (["generate", "R", "-o", "g", "--temperature", "1e300"], "at most"),
        (["train", "D", "-o", "R", "--max-minutes", "inf"], "finite"),
        (["train", "D", "-o", "R", "--beta", "nan"], "finite"),
    ],
)
def test_lengths_and_temperatures_out_of_reach_are_refused_at_once(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and words in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("seconds", [1e9, float("inf"), float("nan")])
def test_the_library_refuses_a_track_too_long_before_any_work(tiny_seq_run, seconds):
    import melvae

    with pytest.raises(MelvaeError, match="seconds must be"):
        melvae.load(tiny_seq_run, device="cpu").longform(seconds)


# -- a trained run is never replaced unasked; one writer per folder ---------------------------
def test_train_into_a_trained_run_refuses_and_changes_nothing(
    tiny_run, tiny_data, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = snapshot(run)
    line = one_line(capsys, ["train", str(tiny_data), "-o", str(run), *TINY_TRAIN])
    assert "already holds a trained run" in line and "--resume" in line and "--overwrite" in line
    assert "give one" in one_line(
        capsys, ["train", str(tiny_data), "-o", str(run), "--resume", "--overwrite"]
    )
    assert snapshot(run) == before


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s lock as `melvae train` does, until killed."""
    code = (
        "import sys, time; from melvae.safeio import folder_lock\n"
        f"with folder_lock({str(folder)!r}, 'train'):\n"
        "    print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(
    tiny_data, tmp_path, capsys
):
    run, data = tmp_path / "run", tmp_path / "data"
    shutil.copytree(tiny_data, data)
    before = snapshot(data)
    owner = _hold_lock(run)
    try:
        line = one_line(capsys, ["train", str(tiny_data), "-o", str(run), *TINY_TRAIN])
        assert "in use by melvae train" in line and f"process {owner.pid}" in line
    finally:
        owner.kill()  # SIGKILL: no chance to free the lock
        owner.wait()
    assert safeio.lock_owner(run)["pid"] == owner.pid  # its lock file stays behind ...
    (run / f".best.pt.{owner.pid}-0.tmp").write_bytes(b"torn")  # ... with a torn temporary
    with safeio.folder_lock(run, "train"):  # ... and is taken over
        assert safeio.lock_owner(run)["pid"] == os.getpid()
        assert not (run / f".best.pt.{owner.pid}-0.tmp").exists()
    assert not (run / safeio.LOCK).exists()  # freed on release

    owner = _hold_lock(data)
    try:
        argv = ["preprocess", str(tiny_data.parent / "audio"), "-o", str(data), "-q"]
        assert "in use by melvae train" in one_line(capsys, argv)
    finally:
        owner.kill()
        owner.wait()
    before.pop(safeio.LOCK, None)
    assert {k: v for k, v in snapshot(data).items() if k != safeio.LOCK} == before


# -- verified files ---------------------------------------------------------------------------
def _damage(path: Path, at: float = 0.5, size: int = 4096) -> None:
    """4 KB of random bytes in the middle of a file, its size unchanged."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    data[start : start + size] = np.random.default_rng(0).bytes(min(size, len(data) - start))
    path.write_bytes(bytes(data))


def test_a_damaged_or_diverged_checkpoint_is_refused(tiny_run, tmp_path, capsys):
    from melvae.models.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    _damage(run / "best.pt")
    for command in ("generate", "report"):
        line = one_line(capsys, [command, str(run), "-o", str(tmp_path / command)])
        assert str(run / "best.pt") in line and ("damaged" in line or "not a melvae" in line)
    ckpt = load_checkpoint(run / "last.pt")
    with torch.no_grad():
        next(ckpt.model.parameters())[0] = float("nan")
    save_checkpoint(run / "nan.pt", ckpt)
    line = one_line(capsys, ["generate", str(run / "nan.pt"), "-o", str(tmp_path / "g")])
    assert "not finite" in line and "nan.pt" in line
    assert not (tmp_path / "g").exists()  # nothing made before the model loaded


def test_checkpoints_without_a_checksum_still_load(tiny_run, tmp_path):
    from melvae.models.checkpoint import load_checkpoint

    payload = torch.load(tiny_run / "best.pt", weights_only=True)
    assert set(payload["checksum"]) == {"sha256"}
    del payload["checksum"]  # as melvae wrote them before checksums
    torch.save(payload, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").model.cfg == load_checkpoint(tiny_run).model.cfg


def _broken_datasets(data: Path):
    """(what, a function breaking the dataset folder ``data`` in that way)."""
    mels, manifest, config = data / "mels.npy", data / "manifest.csv", data / "audio_config.json"
    rows = manifest.read_text().splitlines()
    cut = rows[-1][: rows[-1].rindex(",", 0, rows[-1].rindex(",")) + 3]
    return [
        ("truncated", lambda: mels.write_bytes(mels.read_bytes()[:-1000])),
        ("empty", lambda: mels.write_bytes(b"")),
        ("random", lambda: mels.write_bytes(np.random.default_rng(0).bytes(5000))),
        ("one byte changed", lambda: _damage(mels, 0.7, 1)),
        ("a beat phase changed", lambda: _damage(data / "beats.npz", 0.5, 1)),
        ("config not JSON", lambda: config.write_text('{"format_version": 1, "audio')),
        # the last row cut inside its label ("...,3.5,hi"): a label that is not the track's
        ("cut mid-row", lambda: manifest.write_text("\n".join(rows[:-1] + [cut]))),
        ("bad row", lambda: manifest.write_text("\n".join(rows[:5] + ["5,x.wav,abc,low,0"]))),
        # the last digit of the last start_sample cut: only the checksum can tell
        ("a digit cut", lambda: manifest.write_text("\n".join(rows[:-1] + [rows[-1][:-1]]))),
    ]


def test_a_torn_or_foreign_dataset_file_is_one_line_naming_it(tiny_data, tmp_path, capsys):
    from melvae.data.dataset import MelDataset

    for k in range(len(_broken_datasets(tiny_data))):
        data = tmp_path / f"d{k}"
        shutil.copytree(tiny_data, data)
        what, breaks = _broken_datasets(data)[k]
        breaks()
        with pytest.raises(MelvaeError) as info:
            MelDataset(data)
        message = str(info.value)
        assert "melvae preprocess" in message and str(data) in message, (what, message)
        if k == 0:  # and through the command line, with no traceback
            line = one_line(capsys, ["train", str(data), "-o", str(tmp_path / "r"), *TINY_TRAIN])
            assert "mels.npy" in line


def test_a_large_dataset_is_checked_by_size_and_header_unless_verify(tiny_data, tmp_path):
    from melvae.data import dataset

    data = tmp_path / "d"
    shutil.copytree(tiny_data, data)
    _damage(data / "mels.npy", 0.5, 1)
    dataset.MelDataset(data, verify=False)  # the size is right: only a full hash can tell
    with pytest.raises(MelvaeError, match="checksum"):
        dataset.MelDataset(data)  # small enough to be hashed whole by default
    with pytest.raises(MelvaeError, match="checksum"):
        dataset.MelDataset(data, verify=True)
    meta = json.loads((data / "audio_config.json").read_text())
    del meta["checksums"]  # a dataset from before checksums
    (data / "audio_config.json").write_text(json.dumps(meta))
    assert len(dataset.MelDataset(data)) == len(dataset.MelDataset(tiny_data))


# -- faults while writing leave the earlier files as they were --------------------------------
def test_a_full_disk_in_preprocess_keeps_the_old_dataset(tiny_data, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    before = snapshot(data)
    fail_fsync(monkeypatch)
    argv = ["preprocess", str(tiny_data.parent / "audio"), "-o", str(data), "--workers", "1"]
    line = one_line(capsys, [*argv, *TINY_PREPROCESS_FLAGS, "--hop-seconds", "0.5", "-q"])
    assert "no space left" in line and str(data / "mels.npy") in line
    assert snapshot(data) == before  # no temporary, no lock, no changed byte


@pytest.mark.parametrize("only", ["", "resume.ckpt"])
def test_a_full_disk_in_training_keeps_the_run(
    only, tiny_run, tiny_data, tmp_path, capsys, monkeypatch
):
    if only and not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell the files apart")
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = snapshot(run)
    fail_fsync(monkeypatch, only=only)
    argv = ["train", str(tiny_data), "-o", str(run), "--resume", "--epochs", "5", *TINY_TRAIN]
    line = one_line(capsys, argv)
    assert "no space left" in line and str(run / (only or "history.csv")) in line
    after = snapshot(run)
    if only:  # the epoch's history and checkpoints went in; resume.ckpt is the old one, whole
        assert after["resume.ckpt"] == before["resume.ckpt"] and after.keys() == before.keys()
        assert after["history.csv"] != before["history.csv"]
    else:
        assert after == before


def test_a_damaged_resume_checkpoint_is_one_line(tiny_run, tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    _damage(run / "resume.ckpt")
    before = snapshot(run)
    argv = ["train", str(tiny_data), "-o", str(run), "--resume", "--epochs", "5", *TINY_TRAIN]
    line = one_line(capsys, argv)
    assert str(run / "resume.ckpt") in line and "damaged" in line and "--overwrite" in line
    assert snapshot(run) == before


def test_faults_writing_audio_keep_the_earlier_files(tiny_run, tmp_path, capsys, monkeypatch):
    out, track = tmp_path / "clips", tmp_path / "track.wav"
    assert main(["generate", str(tiny_run), "-n", "1", "-o", str(out), "--iterations", "2"]) == 0
    argv = [
        "longform",
        str(tiny_run),
        "--seconds",
        "3",
        "-o",
        str(track),
        "-q",
        "--iterations",
        "2",
    ]
    assert main(argv) == 0
    capsys.readouterr()
    before = snapshot(tmp_path)
    with monkeypatch.context() as patch:
        read_only(patch)
        argv_g = ["generate", str(tiny_run), "-n", "1", "-o", str(out), "--iterations", "2"]
        line = one_line(capsys, [*argv_g, "--seed", "5"])
        assert "read-only file system" in line and str(out / "sample_000.wav") in line
    with monkeypatch.context() as patch:
        fail_fsync(patch)
        line = one_line(capsys, [*argv, "--seed", "5"])
        assert "no space left" in line and str(track) in line
    assert snapshot(tmp_path) == before


# -- honest endings ---------------------------------------------------------------------------
def test_ctrl_c_in_the_prior_says_so_and_resume_finishes_it(
    tiny_data, tmp_path, capsys, monkeypatch
):
    import melvae.training.prior as prior_module
    from melvae.models.checkpoint import load_checkpoint

    # a small prior, so that the test is quick
    fit = functools.partial(prior_module.fit_prior, hidden=16, layers=1, window=32)
    monkeypatch.setattr(prior_module, "fit_prior", fit)
    bar = prior_module.progress_bar

    def stopping_bar(*args, **kwargs):  # Ctrl-C as the prior's second epoch ends
        progress = bar(*args, **kwargs)
        update, epochs = progress.update, []

        def interrupt(n=1):
            epochs.append(n)
            if len(epochs) == 2:
                raise KeyboardInterrupt
            return update(n)

        progress.update = interrupt
        return progress

    run = tmp_path / "run"
    argv = ["train", str(tiny_data), "-o", str(run), "--latent-channels", "4"]
    argv += ["--channels", "4,8,16", "--epochs", "1", "--prior-epochs", "3", *TINY_TRAIN]
    with monkeypatch.context() as patch:
        patch.setattr(prior_module, "progress_bar", stopping_bar)
        assert main(argv) == 130
    out = capsys.readouterr().out
    assert "training interrupted" in out and "prior stopped at epoch 2 of 3" in out
    assert "--resume" in out
    assert load_checkpoint(run / "best.pt").info["prior_finished"] is False
    assert main([*argv, "--resume"]) == 0
    assert "training finished" in capsys.readouterr().out
    info = load_checkpoint(run / "best.pt").info
    assert info["prior_finished"] is True and info["prior_epochs"] == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_parent_leaves_no_worker_behind(tmp_path):
    """preprocess's workers call exit_with_parent(parent): killing the parent (SIGKILL, no
    chance to clean up) ends them."""
    child = (
        "import os, time; from melvae.data.preprocess import exit_with_parent; "
        "exit_with_parent(os.getppid()); print('ready', flush=True); time.sleep(60)"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', {child!r}], stdout=subprocess.PIPE, "
        "text=True)\n"
        "assert p.stdout.readline().strip() == 'ready'\n"
        "print(p.pid, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    assert Path(f"/proc/{worker}").exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def running() -> bool:  # neither gone nor a zombie waiting for init to reap it
        try:
            return not Path(f"/proc/{worker}/stat").read_text().split(") ")[-1].startswith("Z")
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running()


def test_preprocess_workers_are_tied_to_their_parent(monkeypatch):
    from melvae.data import preprocess

    calls = []
    monkeypatch.setattr(preprocess, "exit_with_parent", calls.append)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # this process keeps its own
    preprocess._worker_init(1234)
    preprocess._worker_init()  # in the process itself (workers=1): nothing to tie
    assert calls == [1234]
