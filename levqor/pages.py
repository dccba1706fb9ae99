"""Project-wide public pages. levqor imports no app, so the terms page renders the template
compliance/terms_page.html when an app provides it (the compliance app does: it extends
pages/terms.html with the version in force, text and date, read by its template tag), and
pages/terms.html alone, which says no terms are published, when none does."""

from django.shortcuts import render
from django.template.loader import select_template
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from levqor import health


def _wants_html(request) -> bool:
    """A browser asks for text/html first; API clients (JSON, */*, nothing) keep the JSON root."""
    accept = request.META.get("HTTP_ACCEPT", "")
    first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first in ("text/html", "application/xhtml+xml")


@csrf_exempt  # the JSON root changes nothing, so CSRF's 403 would only stop it answering any method
@vary_on_headers("Accept")
def root(request):
    # Any method, as the old JSON root answered; only a browser's GET gets the page.
    if request.method in ("GET", "HEAD") and _wants_html(request):
        return render(request, "pages/home.html")
    return health.root(request)


def _page(template: str):
    @require_safe
    def view(request):
        return render(request, template)
    view.__name__ = template.rsplit("/", 1)[-1].removesuffix(".html")
    return view


privacy = _page("pages/privacy.html")
cookies = _page("pages/cookies.html")
faq = _page("pages/faq.html")
security = _page("pages/security.html")


@require_safe
def terms(request):
    template = select_template(["compliance/terms_page.html", "pages/terms.html"])
    return render(request, template.template.name)
