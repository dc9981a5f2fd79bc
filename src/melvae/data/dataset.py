"""Dataset folder (written by preprocess.py) -> torch Dataset, and the track-wise split.

Opening a dataset checks it, so that a torn or foreign file is one clear error naming it,
not a traceback or silent garbage: audio_config.json must be JSON; mels.npy an .npy array
of the manifest's shape whose size is exactly its header's; every manifest row complete and
well-formed. A dataset whose audio_config.json records checksums (preprocess writes them)
is checked against them: the manifest and beats.npz always (they are small), the mel
array's bytes where ``verify`` asks (train does: it reads them all anyway) or by default
where the file is at most VERIFY_BYTES (hashing runs near 1 GB/s; a larger file is checked
by size and header alone outside training). Datasets written before checksums load
without them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from melvae.config import DATASET_FORMAT_VERSION, AudioConfig
from melvae.errors import MelvaeError
from melvae.layout import AUDIO_CONFIG, BEATS, MANIFEST, MELS
from melvae.safeio import file_digest

VERIFY_BYTES = 256 << 20  # mels.npy up to this size is hashed whole at every opening
AGAIN = "run `melvae preprocess` again"


@dataclass(frozen=True)
class SegmentInfo:
    index: int
    source: str  # path relative to the audio folder the dataset was made from
    start_seconds: float
    label: str
    start_sample: int = -1  # first sample at the dataset's rate (-1: not recorded)


def read_dataset_meta(data_dir: Path | str) -> dict:
    """The dataset's audio_config.json: format version, audio config, hop, audio folder."""
    path = Path(data_dir) / AUDIO_CONFIG
    if not path.is_file():
        raise MelvaeError(
            f"{data_dir} is not a melvae dataset (no {AUDIO_CONFIG}); "
            "make one with `melvae preprocess`"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MelvaeError(f"{path} is damaged, not JSON ({exc}): {AGAIN}") from None
    if not isinstance(meta, dict):
        raise MelvaeError(f"{path} is damaged, not a melvae dataset config: {AGAIN}")
    if meta.get("format_version") != DATASET_FORMAT_VERSION:
        raise MelvaeError(
            f"{data_dir} has dataset format {meta.get('format_version')}, this melvae reads "
            f"format {DATASET_FORMAT_VERSION}: run `melvae preprocess` again"
        )
    return meta


def read_audio_config(data_dir: Path | str) -> AudioConfig:
    return AudioConfig.from_dict(read_dataset_meta(data_dir)["audio_config"])


def read_beats(data_dir: Path, segments: list[SegmentInfo], frames: int):
    """The dataset's beats.npz as (beat_phase float32 (N, frames) in [0, 1), NaN for every
    frame of a segment whose track has no clear beat; bpm float32 (N,), NaN likewise), or
    (None, None) for a dataset made before beats were tracked. A file that does not match
    the manifest (another preprocess run's) is an error, not a silent mismatch."""
    path = Path(data_dir) / BEATS
    if not path.is_file():
        return None, None
    try:
        with np.load(path) as npz:
            phase = npz["phase"].astype(np.float32)
            bpm, starts = npz["bpm"].astype(np.float32), npz["start_sample"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # a torn file too
        raise MelvaeError(f"{path} is unreadable ({exc}): run `melvae preprocess` again") from None
    if phase.shape != (len(segments), frames) or not np.array_equal(
        starts, [s.start_sample for s in segments]
    ):
        raise MelvaeError(
            f"{path} does not match {MANIFEST} (phases {phase.shape} for {len(segments)} "
            f"segments of {frames} frames): run `melvae preprocess` again"
        )
    return phase, bpm


class MelDataset(torch.utils.data.Dataset):
    """Segments of a dataset folder: item i is (mel float32 (n_mels, frames) in [0, 1],
    label index int64, -1 where unlabelled). The mel file is memory-mapped, not loaded.

    ``beat_phase`` (N, frames) and ``bpm`` (N,): each mel frame's beat phase and each
    segment's tempo, NaN where its track has no clear beat; None for a dataset made before
    beats were tracked (see :func:`read_beats`)."""

    def __init__(
        self, data_dir: Path | str, labels: list[str] | None = None, verify: bool | None = None
    ):
        """``verify``: hash the mel array's bytes against the recorded checksum (True), or not
        (False); None: where mels.npy is at most VERIFY_BYTES (see the module docstring)."""
        self.data_dir = Path(data_dir)
        meta = read_dataset_meta(self.data_dir)
        self.audio = AudioConfig.from_dict(meta["audio_config"])
        # The folder the audio was read from, where it still exists (for listening tests).
        audio_dir = meta.get("audio_dir")
        self.audio_dir = Path(audio_dir) if audio_dir and Path(audio_dir).is_dir() else None
        for name in (MELS, MANIFEST):
            if not (self.data_dir / name).is_file():
                raise MelvaeError(
                    f"{self.data_dir} is an incomplete dataset (no {name}); "
                    "run `melvae preprocess` again"
                )
        self.mels, offset = _open_mels(self.data_dir / MELS)
        checksums = meta.get("checksums") or {}
        manifest = (self.data_dir / MANIFEST).read_bytes()
        self.segments = read_manifest(self.data_dir / MANIFEST, manifest)
        expected = (len(self.segments), self.audio.n_mels, self.audio.segment_frames)
        if self.mels.shape != expected:
            raise MelvaeError(
                f"{self.data_dir / MELS} has shape {self.mels.shape}, "
                f"expected {expected} from its manifest and audio config"
            )
        _check(self.data_dir / MANIFEST, checksums.get(MANIFEST), manifest)
        mels_path, size = self.data_dir / MELS, self.mels.nbytes
        if verify is None:
            verify = size <= VERIFY_BYTES
        _check(mels_path, checksums.get(MELS), lambda: file_digest(mels_path, offset), size, verify)
        self.beat_phase, self.bpm = read_beats(self.data_dir, self.segments, expected[2])
        beats = self.data_dir / BEATS
        if self.beat_phase is not None:
            _check(beats, checksums.get(BEATS), lambda: file_digest(beats), beats.stat().st_size)
        found = sorted({s.label for s in self.segments if s.label})
        self.labels = list(labels) if labels is not None else found
        index = {name: i for i, name in enumerate(self.labels)}
        self.label_ids = np.array([index.get(s.label, -1) for s in self.segments], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        mel = torch.from_numpy(np.asarray(self.mels[i], dtype=np.float32))
        return mel, torch.tensor(self.label_ids[i])


def _open_mels(path: Path) -> tuple[np.ndarray, int]:
    """mels.npy memory-mapped, and the offset of its array's bytes; MelvaeError naming the
    file where it is not a whole float .npy array of 3 dimensions."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format {version}")
            read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
        mels = np.load(path, mmap_mode="r")
    except (ValueError, EOFError, TypeError, SyntaxError) as exc:
        raise MelvaeError(f"{path} is damaged or not a melvae mel array ({exc}): {AGAIN}") from None
    size = path.stat().st_size
    wanted = offset + int(np.prod(shape)) * dtype.itemsize
    if dtype.kind != "f" or fortran or len(shape) != 3 or size != wanted:
        what = f"{size} bytes where its header says {wanted}" if size != wanted else "not mels"
        raise MelvaeError(f"{path} is damaged ({what}): {AGAIN}")
    return mels, offset


def _check(path: Path, recorded: dict | None, content, size: int | None = None, full=True):
    """Compare a file with the checksum recorded for it (nothing where none is): its size
    always, its SHA-256 (of ``content``: bytes, or a function giving the digest) if ``full``."""
    if not recorded:
        return
    if size is None:
        size = len(content)
    if size != recorded.get("bytes"):
        raise MelvaeError(
            f"{path} is damaged: {size} bytes where the dataset recorded {recorded.get('bytes')}"
            f": {AGAIN}"
        )
    if full:
        digest = content() if callable(content) else hashlib.sha256(content).hexdigest()
        if digest != recorded.get("sha256"):
            raise MelvaeError(
                f"{path} is damaged: its contents do not match the checksum recorded when the "
                f"dataset was made: {AGAIN}"
            )


FIELDS = ("index", "source", "start_seconds", "label")  # start_sample: optional (old sets)


def read_manifest(path: Path, content: bytes) -> list[SegmentInfo]:
    """The segments of a manifest.csv, checked row by row: MelvaeError naming the file and
    the line of a row that is cut short, too long, or holds a value of the wrong kind."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise MelvaeError(f"{path} is damaged, not text: {AGAIN}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or not set(FIELDS) <= set(reader.fieldnames):
        raise MelvaeError(f"{path} is damaged: its header is not {','.join(FIELDS)}: {AGAIN}")
    segments = []
    for row in reader:
        line = reader.line_num
        if None in row or None in row.values():
            raise MelvaeError(f"{path} line {line} is cut short or too long: {AGAIN}")
        try:
            seg = SegmentInfo(
                int(row["index"]),
                row["source"],
                float(row["start_seconds"]),
                row["label"],
                int(row.get("start_sample") or -1),
            )
        except ValueError as exc:
            raise MelvaeError(f"{path} line {line} is damaged ({exc}): {AGAIN}") from None
        if seg.index != len(segments) or not seg.source or not math.isfinite(seg.start_seconds):
            raise MelvaeError(f"{path} line {line} is damaged: {AGAIN}")
        segments.append(seg)
    return segments


def track_split(
    segments: list[SegmentInfo], val_fraction: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Split segment indices into (train, val) by source track, never splitting a track.

    Tracks are shuffled (seeded) within each label and about ``val_fraction`` of each label's
    tracks go to validation: at least one where a label has two or more tracks, and never a
    label's last track, so every label keeps training data. A label with a single track (and a
    dataset of a single track) is training data only.
    """
    by_track: dict[str, list[int]] = {}
    track_label: dict[str, str] = {}
    for s in segments:
        by_track.setdefault(s.source, []).append(s.index)
        track_label[s.source] = s.label
    rng = np.random.default_rng(seed)
    val_tracks: set[str] = set()
    if val_fraction > 0 and len(by_track) >= 2:
        for label in sorted(set(track_label.values())):
            tracks = sorted(t for t, lab in track_label.items() if lab == label)
            rng.shuffle(tracks)
            if len(tracks) < 2:
                continue  # a label's only track always trains
            n_val = min(max(int(round(val_fraction * len(tracks))), 1), len(tracks) - 1)
            val_tracks.update(tracks[:n_val])
    train = sorted(i for t, idx in by_track.items() if t not in val_tracks for i in idx)
    val = sorted(i for t, idx in by_track.items() if t in val_tracks for i in idx)
    return train, val


def split_for_run(segments: list[SegmentInfo], run_config: dict) -> tuple[list[int], list[int]]:
    """The (train, val) split a run trained with, from its config.json settings."""
    train_cfg = run_config.get("train", {})
    return track_split(segments, train_cfg.get("val_fraction", 0.1), train_cfg.get("seed", 0))
