"""The few HTML helpers every part of the report's page shares: escaping, references to the
report's own files, and the package's template files."""

from __future__ import annotations

import functools
import html
from importlib import resources
from typing import Any
from urllib.parse import quote


def esc(value: Any) -> str:
    """Text (or anything str() can show) made safe inside HTML text and quoted attributes."""
    return html.escape(str(value), quote=True)


def href(rel: str) -> str:
    """A path relative to the report folder as a URL-quoted, HTML-escaped reference."""
    return esc(quote(rel))


@functools.cache
def template(name: str) -> str:
    """The text of the package file ``melvae/report/templates/NAME``, read once."""
    return resources.files("melvae.report").joinpath("templates", name).read_text(encoding="utf-8")
