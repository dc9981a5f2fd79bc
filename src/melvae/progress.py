"""Progress for long steps: a tqdm bar on a terminal, plain lines in a log.

A bar redraws itself with carriage returns; written to a file or a pipe
(``make demo > demo.log``) every redraw stays, hundreds of kB of them. So a bar is drawn only
where it can redraw in place (stderr is a terminal, or a Jupyter kernel shows tqdm's
widget); elsewhere :class:`LineProgress` writes one line per completed step, at most about
ten per task (see :data:`LINES`), plus one for a task that stops short of its total.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

LINES = 10  # at most about this many lines per task in a log (every 10% of the total)


def interactive() -> bool:
    """Whether a progress bar can redraw in place: stderr is a terminal, or a Jupyter kernel
    (where tqdm.auto draws a widget) runs us."""
    stream = sys.stderr
    return bool(stream is not None and stream.isatty()) or "ipykernel" in sys.modules


def progress_bar(
    total: int, desc: str, unit: str, enabled: bool = True, iterable: Iterable | None = None
):
    """A tqdm bar over ``total`` ``unit``s where one can be drawn, else a
    :class:`LineProgress` (silent when not ``enabled``). Both have update, set_postfix,
    set_postfix_str and close, iterate over ``iterable`` and work as context managers."""
    if enabled and interactive():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit)
    return LineProgress(total, desc, unit, enabled, iterable)


class LineProgress:
    """tqdm's interface, writing one plain line to stderr (no ``\\r``) each time the count
    reaches another tenth of ``total`` (every step for a total of 10 or less), and on
    :meth:`close` if the last count was not written yet. Each line: what, how far, seconds
    since the start, and the postfix, e.g. ``prior: 20/100 epoch, 3.1 s, nll=0.912``."""

    def __init__(
        self, total: int, desc: str, unit: str, enabled: bool = True, iterable=None
    ) -> None:
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.iterable = iterable
        self.n = 0
        self.postfix = ""
        self._every = max(1, math.ceil(total / LINES)) if total else 1
        self._written = 0  # the count of the last line written
        self._t0 = time.perf_counter()
        self._closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:
                yield item
                self.update()  # after the loop's body, so its postfix is in the line
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        before, self.n = self.n, self.n + n
        if self.n // self._every > before // self._every or self.n == self.total:
            self._write()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def close(self) -> None:
        if not self._closed and self.n != self._written:
            self._write()
        self._closed = True

    def _write(self) -> None:
        self._written = self.n
        if not self.enabled:
            return
        seconds = time.perf_counter() - self._t0
        line = f"{self.desc}: {self.n}/{self.total} {self.unit}, {seconds:.1f} s"
        print(line + (f", {self.postfix}" if self.postfix else ""), file=sys.stderr, flush=True)
