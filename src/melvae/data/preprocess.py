"""Audio folder -> dataset folder of fixed-length normalized log-mel segments.

The dataset folder holds:

    mels.npy            float16 (N, n_mels, frames), values in [0, 1]; open with mmap_mode="r"
    manifest.csv        index, source (path relative to the audio folder), start_seconds, label,
                        start_sample (at the dataset's rate)
    audio_config.json   the AudioConfig, the dataset format version, the hop and audio folder,
                        and the checksums of mels.npy's array bytes, manifest.csv and beats.npz
    summary.json        files read and skipped (with the reason), segments, hours of audio
    beats.npz           phase (N, frames) float32: each mel frame's beat phase in [0, 1), NaN
                        for every frame of a track with no clear beat; bpm (N,) float32: the
                        track's tempo, NaN likewise; pulse_clarity (N,) the track's;
                        start_sample (N,) int64, as in the manifest (see melvae.audio.beats)

Files are decoded in worker processes; segments are appended to a temporary file as they
arrive and the folder's files are renamed into place only at the end, all together and
audio_config.json last, so an interrupted or failed run (a full disk) never leaves a
half-written dataset behind, nor changes the one already there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from melvae.audio.io import find_audio_files
from melvae.config import DATASET_FORMAT_VERSION, FILES_PER_WORKER, AudioConfig, json_text
from melvae.errors import MelvaeError
from melvae.layout import AUDIO_CONFIG, BEATS, MANIFEST, MELS, SUMMARY
from melvae.safeio import CHUNK, AtomicGroup, folder_lock, named, temporary_name

SILENT_FILE_PEAK = 1e-4  # -80 dBFS: a file whose peak stays below is skipped as silent
SILENT_SEGMENT_RMS = 1e-3  # -60 dBFS: segments quieter than this are dropped
BATCH = 16  # segments per log-mel batch in a worker (bounds its memory)


@dataclass
class FileResult:
    source: str
    label: str
    mels: np.ndarray | None = None  # float16 (k, n_mels, frames)
    starts: list[int] = field(default_factory=list)  # first sample of each segment
    seconds: float = 0.0
    silent_segments: int = 0
    skipped: str | None = None  # the reason, when the file gave no segment
    beat_phase: np.ndarray | None = None  # float32 (k, frames), NaN without a clear beat
    bpm: float = float("nan")  # the track's tempo, NaN without a clear beat
    pulse_clarity: float = float("nan")


@dataclass
class Summary:
    files_read: int = 0
    files_skipped: dict[str, str] = field(default_factory=dict)  # source -> reason
    segments: int = 0
    silent_segments_dropped: int = 0
    hours: float = 0.0
    labels: dict[str, int] = field(default_factory=dict)  # label -> segments
    files_with_beat: int = 0  # files read with a clear beat (a clock for their segments)
    seconds_taken: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"files read: {self.files_read}, skipped: {len(self.files_skipped)}",
            f"segments written: {self.segments} ({self.hours:.2f} h of audio read, "
            f"{self.silent_segments_dropped} silent segments dropped)",
        ]
        out.append(f"clear beat (tempo tracked): {self.files_with_beat} of {self.files_read} files")
        reasons = Counter(r.split(":")[0] for r in self.files_skipped.values())
        out += [f"  skipped, {reason}: {n}" for reason, n in sorted(reasons.items())]
        if self.labels:
            out.append("labels: " + ", ".join(f"{k} ({v})" for k, v in self.labels.items()))
        return out


def label_for(path: Path, root: Path) -> str:
    """The name of the file's folder (``genres/disco/x.wav`` -> ``disco``); '' at the root."""
    rel = path.relative_to(root)
    return rel.parent.name if len(rel.parts) > 1 else ""


def _segment_file(args: tuple[str, str, str, dict, int]) -> FileResult:
    """Worker: decode one file and cut it into log-mel segments (runs in a subprocess)."""
    import torch

    from melvae.audio.beats import phase_at, track_beats
    from melvae.audio.features import log_mel
    from melvae.audio.io import load_audio

    path, source, label, cfg_dict, hop_samples = args
    cfg = AudioConfig.from_dict(cfg_dict)
    result = FileResult(source=source, label=label)
    try:
        wave = load_audio(path, cfg.sample_rate)
    except MelvaeError as exc:
        result.skipped = f"unreadable: {exc}"
        return result
    result.seconds = len(wave) / cfg.sample_rate
    if not np.all(np.isfinite(wave)):
        result.skipped = "unreadable: non-finite samples"
        return result
    if wave.size == 0 or float(np.max(np.abs(wave))) < SILENT_FILE_PEAK:
        result.skipped = "silent"
        return result
    seg = cfg.segment_samples
    if len(wave) < seg:
        result.skipped = (
            f"shorter than one segment: {result.seconds:.2f} s < {seg / cfg.sample_rate:.2f} s"
        )
        return result
    starts = np.arange(0, len(wave) - seg + 1, hop_samples)
    windows = np.lib.stride_tricks.sliding_window_view(wave, seg)  # a view: no copy
    kept, mels = [], []
    # In batches, so memory stays at BATCH segments whatever the file length and hop.
    for i in range(0, len(starts), BATCH):
        batch_starts = starts[i : i + BATCH]
        frames = windows[batch_starts]
        loud = np.sqrt(np.mean(np.square(frames), axis=1)) >= SILENT_SEGMENT_RMS
        result.silent_segments += int((~loud).sum())
        if loud.any():
            with torch.no_grad():
                mels.append(log_mel(torch.from_numpy(frames[loud]), cfg).numpy().astype(np.float16))
            kept.extend(batch_starts[loud].tolist())
    if not kept:
        result.skipped = "silent"
        return result
    result.mels = np.concatenate(mels)
    result.starts = kept
    # The beat phase at every mel frame's centre (frame f of a segment starting at sample s
    # is centred on s + f hop), from the beats of the whole file.
    beats = track_beats(wave, cfg.sample_rate)
    result.pulse_clarity = beats.pulse_clarity
    centres = np.array(kept)[:, None] + cfg.hop_length * np.arange(cfg.segment_frames)[None, :]
    if beats.clear:
        result.bpm = beats.bpm
        result.beat_phase = phase_at(beats.times, centres / cfg.sample_rate).astype(np.float32)
    else:
        result.beat_phase = np.full(centres.shape, np.nan, dtype=np.float32)
    return result


def _worker_init(parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(1)  # one process per core; intra-op threads would oversubscribe
    if parent is not None:
        exit_with_parent(parent)


def exit_with_parent(parent: int) -> None:
    """End this process when the process ``parent`` ends, however it ends (SIGKILL too):
    a killed preprocess must leave no worker decoding on. Linux: the kernel's parent-death
    signal (prctl PR_SET_PDEATHSIG); elsewhere a thread that checks the parent every second."""
    import signal

    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before the signal was set
                os.kill(os.getpid(), signal.SIGKILL)
            return
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def preprocess(
    audio_dir: Path | str,
    out_dir: Path | str,
    cfg: AudioConfig = AudioConfig(),
    hop_seconds: float | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Summary:
    """Turn every audio file under ``audio_dir`` into segments in ``out_dir``.

    hop_seconds: distance between segment starts (default: the segment length, no overlap).
    workers: processes decoding files in parallel (default: all cores, at most one per
        ``FILES_PER_WORKER`` files, see config.py). They are started with
        "spawn" (fork is unsafe once torch has run threads), so a script calling this with
        workers > 1 needs the usual ``if __name__ == "__main__":`` guard; they end with the
        process that started them.

    ``out_dir`` is locked while the dataset is written (one writer: melvae.safeio); a
    failure leaves its earlier files as they were.
    """
    audio_dir, out_dir = Path(audio_dir), Path(out_dir)
    if not audio_dir.is_dir():
        raise MelvaeError(f"no such folder: {audio_dir}")
    files = find_audio_files(audio_dir)
    if not files:
        raise MelvaeError(f"no audio files (wav, flac, ogg, mp3) under {audio_dir}")
    hop_samples = (
        cfg.segment_samples if hop_seconds is None else round(hop_seconds * cfg.sample_rate)
    )
    if hop_samples <= 0:
        raise MelvaeError("hop_seconds must be positive")
    if not workers:  # None (or 0): all cores, one per FILES_PER_WORKER files at most
        workers = min(os.cpu_count() or 1, len(files) // FILES_PER_WORKER)
    workers = max(1, min(workers, len(files)))

    jobs = [
        (
            str(f),
            f.relative_to(audio_dir).as_posix(),
            label_for(f, audio_dir),
            cfg.to_dict(),
            hop_samples,
        )
        for f in files
    ]
    with folder_lock(out_dir, "preprocess"):
        return _write_dataset(jobs, audio_dir, out_dir, cfg, hop_samples, workers, progress)


def _write_dataset(jobs, audio_dir, out_dir, cfg, hop_samples, workers, progress) -> Summary:
    """Segment ``jobs`` into the dataset folder ``out_dir`` (locked by the caller). Its files
    are written under temporary names and renamed together at the end, audio_config.json
    (with the checksums of the others) last: a failure changes no file of the folder."""
    from melvae.progress import progress_bar

    summary, rows = Summary(), []
    beats: dict[str, list] = {"phase": [], "bpm": [], "pulse_clarity": []}
    t0 = time.perf_counter()
    raw_path = temporary_name(out_dir / (MELS + ".raw"))  # the segments as they arrive
    try:
        with named(out_dir / MELS, raw_path), open(raw_path, "wb") as raw:
            if workers == 1:
                _worker_init()
                results = map(_segment_file, jobs)
                pool = None
            else:
                import multiprocessing as mp

                pool = ProcessPoolExecutor(
                    workers,
                    mp_context=mp.get_context("spawn"),
                    initializer=_worker_init,
                    initargs=(os.getpid(),),
                )
                results = pool.map(_segment_file, jobs, chunksize=1)
            try:
                bar = progress_bar(len(jobs), "preprocess", "file", progress, iterable=results)
                for res in bar:
                    summary.hours += res.seconds / 3600
                    summary.silent_segments_dropped += res.silent_segments
                    if res.skipped:
                        summary.files_skipped[res.source] = res.skipped
                        continue
                    summary.files_read += 1
                    summary.files_with_beat += int(np.isfinite(res.bpm))
                    raw.write(res.mels.tobytes())  # not tofile: its failure has no errno
                    beats["phase"].append(res.beat_phase)
                    beats["bpm"] += [res.bpm] * len(res.starts)
                    beats["pulse_clarity"] += [res.pulse_clarity] * len(res.starts)
                    for start in res.starts:
                        rows.append(
                            (
                                len(rows),
                                res.source,
                                round(start / cfg.sample_rate, 4),
                                res.label,
                                start,
                            )
                        )
                    bar.set_postfix(segments=len(rows))
            finally:
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
        if not rows:
            raise MelvaeError(
                f"no segment could be cut from {len(jobs)} file(s) under {audio_dir}: "
                + "; ".join(sorted(set(summary.files_skipped.values())))[:500]
            )
        summary.segments = len(rows)
        summary.labels = dict(sorted(Counter(r[3] for r in rows if r[3]).items()))
        manifest = io.StringIO(newline="")
        writer = csv.writer(manifest)
        writer.writerow(["index", "source", "start_seconds", "label", "start_sample"])
        writer.writerows(rows)
        manifest = manifest.getvalue().encode("utf-8")
        with AtomicGroup() as group:
            shape = (len(rows), cfg.n_mels, cfg.segment_frames)
            mels = _raw_to_npy(raw_path, group, out_dir / MELS, shape)
            group.write_bytes(out_dir / MANIFEST, manifest)
            beats = _beats_npz(beats, [r[4] for r in rows])
            group.write_bytes(out_dir / BEATS, beats)
            summary.seconds_taken = time.perf_counter() - t0
            group.write_text(out_dir / SUMMARY, json_text(summary.__dict__))
            meta = {
                "format_version": DATASET_FORMAT_VERSION,
                "audio_config": cfg.to_dict(),
                "hop_seconds": hop_samples / cfg.sample_rate,
                "audio_dir": str(audio_dir.resolve()),
                "checksums": {MELS: mels, MANIFEST: _checksum(manifest), BEATS: _checksum(beats)},
            }
            group.write_text(out_dir / AUDIO_CONFIG, json_text(meta))
    finally:
        raw_path.unlink(missing_ok=True)
    return summary


def _beats_npz(beats: dict[str, list], starts: list[int]) -> bytes:
    """beats.npz's bytes (see the module docstring)."""
    out = io.BytesIO()
    np.savez(
        out,
        phase=np.concatenate(beats["phase"]),
        bpm=np.array(beats["bpm"], dtype=np.float32),
        pulse_clarity=np.array(beats["pulse_clarity"], dtype=np.float32),
        start_sample=np.array(starts, dtype=np.int64),
    )
    return out.getvalue()


def _checksum(data: bytes) -> dict:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _raw_to_npy(raw_path: Path, group: AtomicGroup, npy_path: Path, shape: tuple) -> dict:
    """Prefix raw float16 data with an .npy header (streamed: never all in memory), in
    ``group``; returns the checksum of the array's bytes (those after the header)."""
    digest, size = hashlib.sha256(), 0
    with group.open(npy_path) as out, open(raw_path, "rb") as raw:
        np.lib.format.write_array_header_1_0(
            out, {"descr": np.dtype(np.float16).str, "fortran_order": False, "shape": shape}
        )
        while block := raw.read(CHUNK):
            digest.update(block)
            size += len(block)
            out.write(block)
    return {"bytes": size, "sha256": digest.hexdigest()}
