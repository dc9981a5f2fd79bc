"""The registries of the parts that plug in: model kinds, priors and mel-to-audio stages.

A part is found by the name a config, a flag or a checkpoint gives; an unknown name is one
clear error listing the known ones. As in Vocos (its config names the class of each part,
``instantiate_class``), a part is named by a dotted path ``"package.module:Attribute"``,
imported only when it is used, so this module imports nothing of the package but its errors
(and no torch); a test or a plug-in may register the object itself. The built-in parts are
declared at the end of this module: a new part is one class and one register call (see
tests/test_parts.py).

    KINDS       name -> KindSpec      (melvae.kinds: what a kind does at inference)
    PRIORS      name -> PriorSpec     (melvae.models.priors: a prior over latent sequences)
    INVERTERS   name -> InverterSpec  (melvae.audio.inverters: normalized mel -> audio)

Nothing outside this module compares a part's name: it asks the part's spec.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from melvae.errors import MelvaeError


def resolve(ref: Any) -> Any:
    """A ``"module:attribute"`` path -> the attribute (imported now); anything else as is."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class KindSpec:
    """A model kind: its network, its inference, and the facts the settings need.

    network: path of the nn.Module class built from a ModelConfig (its ``__init__(cfg)``).
    inference: path of the :class:`melvae.kinds.base.Kind` subclass that samples,
        interpolates and renders long tracks for it.
    beta: the KL weight it trains with unless told otherwise.
    has_prior: whether it samples through a learned prior trained after the autoencoder.
    latent_field: the ModelConfig field that holds its numbers per latent position.
    check: validation of a ModelConfig of this kind (raises MelvaeError), or None (a path,
        like the classes).
    defaults: ModelConfig fields a run of this kind takes unless told otherwise.
    """

    network: Any
    inference: Any
    beta: float = 1.0
    has_prior: bool = False
    latent_field: str = "latent_dim"
    check: Callable[[Any], None] | str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PriorSpec:
    """A prior over latent sequences: its class (``__init__(PriorConfig)``), as a path, and
    the PriorConfig settings it trains with unless told otherwise."""

    cls: Any
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InverterSpec:
    """A mel-to-audio stage: its class (``__init__(audio, device, **options)``) and the
    options it takes with their defaults (what a run records and the CLI may set)."""

    cls: Any
    options: dict[str, Any] = field(default_factory=dict)


S = TypeVar("S")


class Registry(Generic[S]):
    """Names -> specs of one sort of part."""

    def __init__(self, what: str):
        self.what = what
        self._specs: dict[str, S] = {}

    def register(self, name: str, spec: S) -> S:
        self._specs[name] = spec
        return spec

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def get(self, name: str) -> S:
        """The spec of ``name``; an unknown name is a :class:`MelvaeError` naming the known."""
        try:
            return self._specs[name]
        except (KeyError, TypeError):
            known = ", ".join(self._specs) or "none"
            raise MelvaeError(f"unknown {self.what} {name!r}: known are {known}") from None


KINDS: Registry[KindSpec] = Registry("model kind")
PRIORS: Registry[PriorSpec] = Registry("prior")
INVERTERS: Registry[InverterSpec] = Registry("mel-to-audio stage")


# -- the built-in parts -------------------------------------------------------------------------
# The KL weight (beta) of each kind, against the summed squared error, was measured on real
# music (README, "Music with rhythm"): the vector kind's 1.0 is the reference design's. The
# defaults and options here are those of melvae.config (SEQUENCE_CHANNELS, DEFAULT_ITERATIONS,
# DEFAULT_INVERTER), which tests/test_parts.py checks.
KINDS.register(
    "sequence",
    KindSpec(
        network="melvae.models.sequence:SeqVAE",
        inference="melvae.kinds.sequence:SequenceKind",
        beta=0.01,
        has_prior=True,
        latent_field="latent_channels",
        check="melvae.config:check_sequence",
        defaults={"channels": (16, 32, 32)},
    ),
)
KINDS.register(
    "vector",
    KindSpec(
        network="melvae.models.vector:MelVAE",
        inference="melvae.kinds.vector:VectorKind",
        beta=1.0,
        latent_field="latent_dim",
    ),
)
PRIORS.register("gru", PriorSpec("melvae.models.priors.gru:GRUPrior"))
# The beat prior's lag inputs (a beat and a bar back) were measured on the real-music dev set
# (README, "Long tracks that keep their beat"): the start's tempo held in 94% of 20 s windows
# with them, 31% without.
PRIORS.register(
    "beat", PriorSpec("melvae.models.priors.beat:BeatPrior", defaults={"lag_beats": (1, 4)})
)
INVERTERS.register(
    "griffin-lim",
    InverterSpec("melvae.audio.inverters:GriffinLim", options={"n_iter": 32, "init": "random"}),
)
