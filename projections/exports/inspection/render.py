"""The report's HTML (Jinja2, every recorded value autoescaped) and its PDF (WeasyPrint).

Nothing outside the report's own folder is ever fetched: the HTML holds its style sheet
inline and names only the pictures in ``figures/``; WeasyPrint reads with
:func:`folder_only_fetcher`, which refuses every URL that is not a file in that folder (no
network, no other file), and the folder is the base URL.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2

TEMPLATE = "inspection.html"

_environment: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The template environment: autoescape on for every template, undefined names fail."""
    global _environment  # noqa: PLW0603 - built once per process, on first use
    if _environment is None:
        _environment = jinja2.Environment(
            loader=jinja2.PackageLoader("projections.exports.inspection", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _environment


def write_html(context: dict[str, Any], path: Path) -> None:
    """Render the report to ``path``, streamed (the manifest can be long)."""
    template = environment().get_template(TEMPLATE)
    with path.open("w", encoding="utf-8") as handle:
        for chunk in template.generate(**context):
            handle.write(chunk)


def render_string(context: dict[str, Any]) -> str:
    return environment().get_template(TEMPLATE).render(**context)


def folder_only_fetcher(folder: Path) -> Any:
    """A WeasyPrint URL fetcher that reads ``file:`` URLs inside ``folder`` and refuses every
    other URL (another scheme, another host, a file outside ``folder``) with ``ValueError``."""
    from weasyprint.urls import URLFetcher  # noqa: PLC0415 - WeasyPrint loads only for a PDF

    class FolderOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """Reads ``file:`` URLs inside one folder; refuses everything else."""

        def __init__(self, folder: Path) -> None:
            super().__init__(allowed_protocols=("file",), allow_redirects=False)
            self.folder = folder.resolve()

        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
                raise ValueError(f"refused {url!r}: the report reads only its own folder")
            target = Path(unquote(parts.path)).resolve()
            if not target.is_relative_to(self.folder):
                raise ValueError(f"refused {url!r}: outside the report's folder")
            return super().fetch(url, headers)

    return FolderOnlyFetcher(folder)


def write_pdf(html: str, folder: Path, path: Path) -> float:
    """``html`` (whose relative URLs point into ``folder``) printed to ``path``; seconds."""
    import weasyprint  # noqa: PLC0415 - slow to import; only when a PDF is asked for

    started = time.monotonic()
    fetcher = folder_only_fetcher(folder)
    document = weasyprint.HTML(
        string=html, base_url=folder.resolve().as_uri() + "/", url_fetcher=fetcher
    )
    document.write_pdf(path)
    return time.monotonic() - started
