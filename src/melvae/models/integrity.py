"""Checkpoints that prove their contents: a checksum sealed into the saved dict, checked at
load together with the weights' finiteness, and a write that is never torn.

The checksum is the SHA-256 of the dict's contents, walked in a fixed order: every tensor's
dtype, shape and bytes, every plain value (str, bytes, int, float, bool, None) by its repr,
under its key path. Values of any other type count by their type's name only, so a dict
that round-trips through ``torch.save`` / ``torch.load`` always gives the same checksum; a
flipped byte in any tensor, or in a plain value, gives another. It is stored under
``CHECKSUM`` (``{"sha256": hex}``), outside what it covers. A file saved before checksums
existed (formats 1-3 of older melvae versions) has none and loads unchecked.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from melvae.errors import MelvaeError
from melvae.safeio import write_bytes

CHECKSUM = "checksum"
# the checkpoint entries whose floating-point tensors must all be finite
WEIGHTS = ("state_dict", "prior_state_dict", "label_centroids")


def content_digest(value: Any) -> str:
    """SHA-256 (hex) of ``value``'s contents, as the module docstring describes."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{t.dtype}{tuple(value.shape)}:".encode())
        digest.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__[0]}{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    elif value is None or isinstance(value, (str, bytes, int, float, bool)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        digest.update(f"?{type(value).__name__};".encode())


def seal(payload: dict) -> dict:
    """``payload`` with its checksum under CHECKSUM (a new dict; the old checksum dropped)."""
    body = {k: v for k, v in payload.items() if k != CHECKSUM}
    return {**body, CHECKSUM: {"sha256": content_digest(body)}}


ADVICE = "use another checkpoint (best.pt or last.pt) or train again"


def verify(path: Path | str, payload: dict, advice: str = ADVICE) -> dict:
    """Raise MelvaeError naming ``path`` where ``payload``'s checksum does not match its
    contents; returns the payload without the checksum (one without a checksum unchanged)."""
    sealed = payload.get(CHECKSUM)
    if sealed is None:
        return payload
    body = {k: v for k, v in payload.items() if k != CHECKSUM}
    if not isinstance(sealed, dict) or sealed.get("sha256") != content_digest(body):
        raise MelvaeError(
            f"{path} is damaged: its contents do not match the checksum it was saved with; "
            + advice
        )
    return body


def check_finite(path: Path | str, payload: dict) -> None:
    """Raise MelvaeError naming ``path`` and the first tensor holding NaN or infinity."""
    for entry in WEIGHTS:
        value = payload.get(entry)
        tensors = value.items() if isinstance(value, dict) else [("", value)]
        for key, t in tensors:
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not t.isfinite().all():
                where = f"{entry}[{key}]" if key else entry
                raise MelvaeError(
                    f"{path} holds weights that are not finite ({where}): the file is damaged "
                    f"or the training diverged; {ADVICE}"
                )


def save_sealed(path: Path | str, payload: dict) -> Path:
    """``torch.save`` the sealed ``payload`` to ``path`` atomically (melvae.safeio).

    Serialized in memory first: torch's own file writer turns a failed write (a full disk)
    into a RuntimeError without the errno, where Python's file gives an OSError that says
    what happened."""
    buffer = io.BytesIO()
    torch.save(seal(payload), buffer)
    return write_bytes(path, buffer.getbuffer())
