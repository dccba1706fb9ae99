"""Test-only URLs for the Content-Security-Policy middleware (levqor.security): JSON answers with
and without django-csp's per-view decorators, and a page with its own csp_replace."""

from csp.constants import NONE, SELF
from csp.decorators import csp, csp_exempt, csp_replace, csp_update
from django.http import HttpResponse, JsonResponse
from django.urls import path


def answer(request):
    return JsonResponse({"ok": True})


def page(request):
    return HttpResponse("<!doctype html><title>t</title><p>page</p>")


urlpatterns = [
    path("csp-test/answer", answer),
    path("csp-test/exempt", csp_exempt()(answer)),
    path("csp-test/own", csp({"default-src": [SELF]})(answer)),
    path("csp-test/report-only", csp({"default-src": [NONE], "report-uri": "/csp-report"}, REPORT_ONLY=True)(answer)),
    path("csp-test/update", csp_update({"img-src": ["https://img.example"]})(answer)),
    path("csp-test/page-replace", csp_replace({"img-src": [SELF, "https://img.example"]})(page)),
]
