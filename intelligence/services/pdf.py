"""HTML templates rendered to PDF with weasyprint, and read back with pypdf (page count, text).

Templates live under templates/reports/ and are plain HTML + CSS (charts as inline SVG: weasyprint
draws SVG itself, no JavaScript). Nothing is fetched while rendering: a template refers to no URL,
and the URL fetcher refuses any that slips in, so a report never makes a network call."""

import io

from django.template.loader import render_to_string
from pypdf import PdfReader


class ReportFetchRefused(Exception):
    """A report template asked weasyprint for a resource by URL; reports embed everything."""


def _no_fetch(url, *args, **kwargs):
    raise ReportFetchRefused(f"reports fetch nothing; the template refers to {url!r}")


def pdf_render(*, template: str, context: dict) -> bytes:
    """The PDF of `template` rendered with `context`."""
    from weasyprint import HTML  # imported when used: it loads Pango, which only reports need

    html = render_to_string(template, context)
    return HTML(string=html, url_fetcher=_no_fetch).write_pdf()


def pdf_pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def pdf_text(pdf: bytes) -> str:
    """Every page's text, pages separated by a form feed (what a reader would search)."""
    return "\f".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)
