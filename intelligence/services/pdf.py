"""HTML templates rendered to PDF with weasyprint, and read back with pypdf (page count, text).

Templates live under templates/reports/ and are plain HTML + CSS (charts as inline SVG: weasyprint
draws SVG itself, no JavaScript). Nothing is fetched while rendering: a template refers to no URL,
and the URL fetcher refuses any that slips in, so a report never makes a network call."""

import io

from django.template.loader import render_to_string
from pypdf import PdfReader


class ReportFetchRefused(Exception):
    """A report template asked weasyprint for a resource by URL; reports embed everything."""


def _no_fetch():
    """weasyprint (>= 68) wants a URLFetcher: a plain function loses its error (weasyprint logs a
    warning and renders without the resource); with fail_on_errors it stops the rendering with
    FatalURLFetchingError, caused by our refusal, which pdf_render raises again as itself."""
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            raise ReportFetchRefused(f"reports fetch nothing; the template refers to {url!r}")

    return NoFetch(fail_on_errors=True)


def pdf_render(*, template: str, context: dict) -> bytes:
    """The PDF of `template` rendered with `context`. ReportFetchRefused when it refers to a URL."""
    from weasyprint import HTML  # imported when used: it loads Pango, which only reports need
    from weasyprint.urls import FatalURLFetchingError

    html = render_to_string(template, context)
    try:
        return HTML(string=html, url_fetcher=_no_fetch()).write_pdf()
    except FatalURLFetchingError as exc:
        if isinstance(exc.__cause__, ReportFetchRefused):
            raise exc.__cause__ from None
        raise


def pdf_pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def pdf_text(pdf: bytes) -> str:
    """Every page's text, pages separated by a form feed (what a reader would search)."""
    return "\f".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)
