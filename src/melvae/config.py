"""Settings: one frozen dataclass per concern, validated on construction, saved as JSON.

Every audio parameter travels with the dataset (``audio_config.json``) and inside every
checkpoint, so data made with other settings than a model was trained on is refused, not
silently misread.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from melvae import registry
from melvae.errors import MelvaeError
from melvae.safeio import write_text

# Bumped whenever the layout of a dataset folder or a checkpoint changes incompatibly.
DATASET_FORMAT_VERSION = 1
CHECKPOINT_FORMAT_VERSION = 3

# Fast Griffin-Lim iterations: from a mel, 32 come within 0.2 dB of 64 (-11.5 vs -11.7 dB SC,
# the mel -> linear step limits quality) in half the time (benchmarks/bench_inversion.py).
DEFAULT_ITERATIONS = 32

# preprocess's default workers: all cores, at most one per this many files (a worker's start
# costs as much as decoding several: 24 files of 30 s took 5 s with one process and with two).
FILES_PER_WORKER = 8


@dataclass(frozen=True)
class AudioConfig:
    """How audio becomes a normalized log-mel image.

    The log-mel is in dB against a fixed reference (0 dB is the level a full-scale sine
    reaches in the mel band centred on it), clipped to ``[-top_db, 0]`` and mapped to [0, 1].
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin_hz: float = 0.0
    fmax_hz: float | None = None  # None: sample_rate / 2
    top_db: float = 80.0
    segment_samples: int = 220500  # 10 s at 22,050 Hz -> 431 frames

    def __post_init__(self) -> None:
        _check(self.sample_rate >= 4000, f"sample_rate must be >= 4000 Hz, got {self.sample_rate}")
        _check(self.n_fft >= 64, f"n_fft must be >= 64, got {self.n_fft}")
        _check(
            0 < self.hop_length <= self.n_fft,
            f"hop_length must be in (0, n_fft], got {self.hop_length}",
        )
        _check(
            1 <= self.n_mels <= self.n_freqs,
            f"n_mels must be in [1, {self.n_freqs}], got {self.n_mels}",
        )
        _check(
            0 <= self.fmin_hz < self.f_max,
            f"need 0 <= fmin_hz < fmax_hz, got {self.fmin_hz}, {self.f_max}",
        )
        _check(self.f_max <= self.sample_rate / 2, "fmax_hz must not exceed sample_rate / 2")
        _check(self.top_db > 0, f"top_db must be positive, got {self.top_db}")
        _check(
            self.segment_samples >= self.n_fft,
            f"a segment must hold at least n_fft samples, got {self.segment_samples}",
        )

    @property
    def n_freqs(self) -> int:
        """Number of linear-frequency STFT bins."""
        return self.n_fft // 2 + 1

    @property
    def f_max(self) -> float:
        return self.sample_rate / 2 if self.fmax_hz is None else self.fmax_hz

    @property
    def segment_frames(self) -> int:
        """STFT frames per segment (centered frames: one every hop, plus the first)."""
        return self.segment_samples // self.hop_length + 1

    @property
    def segment_seconds(self) -> float:
        return self.segment_samples / self.sample_rate

    def frames_to_seconds(self, frames: float) -> float:
        return frames * self.hop_length / self.sample_rate

    def with_segment(
        self, seconds: float | None = None, *, bars: float | None = None, bpm: float | None = None
    ) -> AudioConfig:
        """Copy with a segment length in seconds, or in bars (4/4) at a tempo."""
        samples = segment_samples_for(self.sample_rate, seconds, bars=bars, bpm=bpm)
        return dataclasses.replace(self, segment_samples=samples)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioConfig:
        return _from_dict(cls, data)


def bars_to_seconds(bars: float, bpm: float, beats_per_bar: int = 4) -> float:
    """Seconds of ``bars`` bars at ``bpm`` beats per minute (4/4 unless told)."""
    return bars * beats_per_bar * 60.0 / bpm


def bar_bpm(bar_seconds: float, beats_per_bar: int = 4) -> float:
    """The tempo (beats per minute) at which one bar lasts ``bar_seconds``."""
    return beats_per_bar * 60.0 / bar_seconds


def segment_samples_for(
    sample_rate: int,
    seconds: float | None = None,
    *,
    bars: float | None = None,
    bpm: float | None = None,
) -> int:
    """Segment length in samples, from seconds or from whole bars of 4 beats at ``bpm``."""
    if bars is not None or bpm is not None:
        _check(bars is not None and bpm is not None, "bars and bpm must be given together")
        _check(seconds is None, "give a segment length in seconds or in bars, not both")
        _check(bars > 0 and bpm > 0, "bars and bpm must be positive")
        seconds = bars_to_seconds(bars, bpm)
    _check(seconds is not None and seconds > 0, "segment length must be positive")
    return int(round(seconds * sample_rate))


DEFAULT_KIND = "sequence"  # what `melvae train` builds unless told otherwise (README: real music)
# The prior a sequence run trains unless told otherwise: the clocked one, which holds a tempo
# (README, "Long tracks that keep their beat"); a prior config that names none is the GRU's.
DEFAULT_PRIOR = "beat"
DEFAULT_INVERTER = "griffin-lim"  # the mel-to-audio stage unless told otherwise
LATENT_RATES = (1, 2, 4, 8)  # sequence kind: mel frames per latent frame (strided 1-D convs)
SCHEDULES = ("cosine", "plateau")  # learning-rate schedules of TrainConfig.schedule
VECTOR_CHANNELS = (16, 32, 64, 128, 256)
SEQUENCE_CHANNELS = (16, 32, 32)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the VAE over a (n_mels, frames) image; ``kind`` names it in
    :data:`melvae.registry.KINDS`: ``sequence`` (``latent_channels`` every ``rate`` mel frames,
    with a learned prior) or ``vector`` (one ``latent_dim`` vector per segment)."""

    n_mels: int = 128
    n_frames: int = 431
    latent_dim: int = 64  # vector kind
    channels: tuple[int, ...] = VECTOR_CHANNELS  # 2-D conv channels
    n_labels: int = 0  # > 0: a conditional VAE over this many labels
    label_embedding_dim: int = 16
    kind: str = "vector"
    latent_channels: int = 16  # sequence kind: numbers per latent frame
    rate: int = 4  # sequence kind: mel frames per latent frame (a power of 2, <= 8)
    width: int = 256  # sequence kind: channels of the 1-D trunk
    blocks: int = 4  # sequence kind: residual blocks in encoder and decoder

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        spec = registry.KINDS.get(self.kind)  # an unknown kind: one clear error
        _check(self.latent_dim >= 1, f"latent_dim must be >= 1, got {self.latent_dim}")
        _check(len(self.channels) >= 1 and min(self.channels) >= 1, "channels must be positive")
        _check(self.n_mels >= 2 ** len(self.channels) // 2, "too many layers for n_mels")
        _check(self.n_frames >= 2, "n_frames must be >= 2")
        _check(self.n_labels >= 0, "n_labels must be >= 0")
        if spec.check is not None:
            registry.resolve(spec.check)(self)

    @property
    def latent_size(self) -> int:
        """Numbers per latent position: the kind's ``latent_field`` (latent_channels for the
        sequence kind, latent_dim for the vector kind)."""
        return int(getattr(self, registry.KINDS.get(self.kind).latent_field))

    @property
    def conditional(self) -> bool:
        return self.n_labels > 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class PriorConfig:
    """A prior over a sequence model's latent frames (melvae.models.priors); ``kind`` names
    it in :data:`melvae.registry.PRIORS` (the GRU mixture-density prior, unless told)."""

    kind: str = "gru"  # absent from files written before priors had names
    channels: int = 16  # the autoencoder's latent_channels
    hidden: int = 256
    layers: int = 2
    mixtures: int = 8
    dropout: float = 0.0
    input_noise: float = 0.0  # std of noise on the teacher-forced inputs (normalized units)
    clock_dropout: float = 0.3  # a clocked prior: share of training windows without the clock
    lag_beats: tuple[int, ...] = ()  # a clocked prior: also the latent 1 beat back, 4, ...
    frame_seconds: float = 0.0  # seconds per latent frame (what a beat back is in frames)
    n_labels: int = 0  # > 0: conditioned on the label
    label_embedding_dim: int = 16

    def __post_init__(self) -> None:
        _check(self.channels >= 1 and self.hidden >= 1, "channels and hidden must be >= 1")
        _check(self.layers >= 1 and self.mixtures >= 1, "layers and mixtures must be >= 1")
        _check(0 <= self.dropout < 1, "dropout must be in [0, 1)")
        _check(self.input_noise >= 0, "input_noise must be >= 0")
        _check(0 <= self.clock_dropout < 1, "clock_dropout must be in [0, 1)")
        object.__setattr__(self, "lag_beats", tuple(int(b) for b in self.lag_beats))
        _check(all(b >= 1 for b in self.lag_beats), "lag_beats must be whole beats >= 1")
        _check(not self.lag_beats or self.frame_seconds > 0, "lag_beats need frame_seconds")
        registry.PRIORS.get(self.kind)  # an unknown prior: one clear error

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for ``melvae train``."""

    epochs: int = 100
    max_minutes: float | None = None
    batch_size: int = 16
    lr: float = 1e-3
    beta: float | None = None  # KL weight; None: the model kind's default (KindSpec.beta)
    kl_warmup_epochs: int = 10
    free_bits: float = 0.0  # nats per latent dimension below which the KL is not penalised
    grad_clip: float = 100.0  # max gradient norm (0: off); stops the early-warm-up spikes
    val_fraction: float = 0.1
    seed: int = 0
    num_workers: int = 0
    schedule: str = "cosine"  # "cosine" or "plateau"
    conditional: bool = False
    devices: int = 1
    strategy: str = "auto"
    prior_fraction: float = 0.2  # sequence kind: share of --max-minutes for the prior
    prior: str = DEFAULT_PRIOR  # sequence kind: the prior it trains (melvae.registry.PRIORS)
    prior_epochs: int | None = None  # sequence kind: the prior's epochs (None: as --epochs)
    crop_frames: int = 128  # sequence kind: train on random windows of this many frames (0: off)

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.max_minutes is None or self.max_minutes > 0, "max_minutes must be positive")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.lr > 0, f"lr must be positive, got {self.lr}")
        _check(self.beta is None or self.beta >= 0, f"beta must be >= 0, got {self.beta}")
        _check(0 < self.prior_fraction < 1, "prior_fraction must be in (0, 1)")
        _check(self.prior_epochs is None or self.prior_epochs >= 1, "prior_epochs must be >= 1")
        _check(self.crop_frames >= 0, "crop_frames must be >= 0")
        _check(self.kl_warmup_epochs >= 0, "kl_warmup_epochs must be >= 0")
        _check(self.free_bits >= 0, "free_bits must be >= 0")
        _check(self.grad_clip >= 0, "grad_clip must be >= 0")
        _check(0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)")
        _check(self.schedule in SCHEDULES, "schedule must be 'cosine' or 'plateau'")
        _check(self.devices >= 1, "devices must be >= 1")
        registry.PRIORS.get(self.prior)  # an unknown prior: one clear error

    def for_kind(self, kind: str) -> TrainConfig:
        """A copy with the kind's KL weight where none was given."""
        if self.beta is not None:
            return self
        return dataclasses.replace(self, beta=registry.KINDS.get(kind).beta)

    def autoencoder_minutes(self, kind: str) -> float | None:
        """The autoencoder's share of --max-minutes (a kind's prior takes the rest)."""
        if self.max_minutes is None or not registry.KINDS.get(kind).has_prior:
            return self.max_minutes
        return self.max_minutes * (1 - self.prior_fraction)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)


# -- defaults the library's functions and the `melvae` command share -------------------------
# A library function's signature and the matching CLI option both read the name (the help
# prints it); settings of a dataclass above are read from its field with :func:`default`.
DEFAULT_DEVICE = "auto"  # CUDA, then Apple MPS, then CPU (inputs.pick_device)
DEFAULT_SEED = 0  # every stochastic function is seeded; the same seed gives the same audio
DEFAULT_TEMPERATURE = 1.0  # scale of the latent draws; 1 samples the prior as trained
AUDIO_FORMATS = ("wav", "flac")  # files of generated clips; the first is the default
GENERATE_CLIPS = 8  # clips `melvae generate` writes
INTERPOLATION_STEPS = 8  # points from A to B, both endpoints included
INTERPOLATION_FADE_SECONDS = 1.0  # crossfade between steps in the joined transition
LONGFORM_SECONDS = 180.0  # length of a `melvae longform` track
LOOP_BARS = 4  # bars of 4 beats in a `melvae loops` loop
MIN_CLOCK_BPM, MAX_CLOCK_BPM = 30.0, 300.0  # the tempos --bpm may ask of a clocked prior
# How much each beat's draws repeat the last beat's at a steady tempo (melvae.generation.grid):
# 0 draws afresh every frame, 1 repeats the same numbers every beat. Chosen by
# benchmarks/tempo.py on held-out real music (README, "Long tracks that keep their beat").
DEFAULT_REPEAT = 0.8
LOOP_REPEAT = 0.9  # loops repeat more: their wrap then stands out less (the same benchmark)
# Clips (`generate --bpm`) draw afresh: drawn at the held-out segments' own tempos, repeat 0
# gives a Frechet ratio of 2.61 and diversity 0.93 against those segments, repeat 0.8 3.55 and
# 0.78 (README, "Long tracks that keep their beat").
CLIP_REPEAT = 0.0
# The longest track: 10 hours, a 16-bit WAV of 3.5 GB at 48 kHz (the format ends at 4 GB).
MAX_LONGFORM_SECONDS = 36_000.0
MAX_TEMPERATURE = 10.0  # far past any useful draw (1 is the prior as trained)
STEPS_PER_TARGET = 4  # vector kind's long track: segments spent moving towards each target
RECONSTRUCT_SEGMENTS = 8  # original / reconstruction pairs `melvae reconstruct` writes
EVAL_SPLITS = ("val", "train", "all")  # which segments evaluate measures
EVAL_SPLIT = "val"  # the run's held-out tracks
EVAL_MAX_SEGMENTS = 64  # held-out segments evaluated by default (a seeded subsample)
MAP_GRID = 8  # a 2-D model's latent map: mels decoded over MAP_GRID x MAP_GRID points
MAP_MAX_POINTS = 2000  # segments drawn in a latent map
REPORT_CLIPS = 12  # generated clips in the HTML report (a labelled model's labels in turn)
REPORT_STEPS = 6  # steps of the report's interpolation, both ends included
REPORT_LOOPS = 4  # loops in the report of a model with a clocked prior
REPORT_LOOP_BPM = 120.0  # their tempo where the long track followed none
REPORT_GRID = 6  # a 2-D model's clickable grid in the report: REPORT_GRID x REPORT_GRID clips
SYNTH_STYLES = ("techno", "breakbeat", "ambient")  # melvae.data.synth's procedural styles
SYNTH_TRACKS_PER_STYLE = 8
SYNTH_SECONDS = 30.0  # length of each synthesized track
DEMO_MINUTES = 4.0  # the demo's training time
DEMO_LONGFORM_SECONDS = 60.0  # the demo's long track


def default(cls: type, name: str) -> Any:
    """The default of the field ``name`` of the dataclass ``cls``, e.g.
    ``default(TrainConfig, "epochs")`` -> 100: the CLI's options read their defaults here, so
    each lives in its dataclass only. A name that is not a field with a default is an error."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{name} has no plain default")
            return f.default
    raise AttributeError(f"{cls.__name__} has no field {name!r}")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise MelvaeError(message)


def _from_dict(cls, data: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise MelvaeError(f"unknown {cls.__name__} settings: {', '.join(unknown)}")
    return cls(**data)


def assert_same_audio(expected: AudioConfig, found: AudioConfig, what: str) -> None:
    """Refuse data whose audio parameters differ from the ones a model was trained on."""
    if expected == found:
        return
    diffs = [
        f"{name}={getattr(found, name)!r} (model: {getattr(expected, name)!r})"
        for name in (f.name for f in dataclasses.fields(AudioConfig))
        if getattr(expected, name) != getattr(found, name)
    ]
    raise MelvaeError(f"{what} has other audio parameters than the model: {', '.join(diffs)}")


def json_text(data: dict[str, Any]) -> str:
    """The text of every JSON file melvae writes."""
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (melvae.safeio: a crash never leaves a half-written file)."""
    write_text(path, json_text(data))


def jsonable(value: Any, nonfinite: Literal["keep", "null", "str"] = "keep") -> Any:
    """``value`` in plain JSON types, recursively: dicts with str keys; lists for tuples,
    numpy arrays and torch tensors; Python numbers for numpy and torch scalars; str for
    anything else (a Path, say). A float that is not finite is kept (``"keep"``: json writes
    the non-standard NaN / Infinity), None (``"null"``: strict JSON) or "nan" / "inf" /
    "-inf" (``"str"``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, nonfinite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, nonfinite) for v in value]
    if hasattr(value, "tolist"):  # numpy and torch, without importing either
        return jsonable(value.tolist(), nonfinite)
    if isinstance(value, float) and not math.isfinite(value) and nonfinite != "keep":
        return None if nonfinite == "null" else str(value)
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def check_sequence(cfg: ModelConfig) -> None:
    """The sequence kind's own checks of a ModelConfig (its KindSpec.check)."""
    _check(len(cfg.channels) == 3, "the sequence kind has 3 2-D layers: give 3 channels")
    _check(cfg.rate in LATENT_RATES, f"rate must be 1, 2, 4 or 8, got {cfg.rate}")
    _check(cfg.latent_channels >= 1, "latent_channels must be >= 1")
    _check(cfg.width >= 1 and cfg.blocks >= 0, "width >= 1 and blocks >= 0")
