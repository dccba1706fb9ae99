"""Test-only URLs for the Content-Security-Policy middleware (levqor.security): JSON answers with
and without django-csp's per-view decorators, and DRF pages that write the style="..." attributes
the page policy allows by hash (levqor.security.STYLE_ATTRIBUTES)."""

from csp.constants import NONE, SELF
from csp.decorators import csp, csp_exempt, csp_replace, csp_update
from django.http import HttpResponse, JsonResponse
from django.urls import path
from rest_framework import routers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import AdminRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response


def answer(request):
    return JsonResponse({"ok": True})


def page(request):
    return HttpResponse("<!doctype html><title>t</title><p>page</p>")


class OnePerPage(PageNumberPagination):
    page_size = 1


class ThingViewSet(viewsets.GenericViewSet):
    """A list with pages and an extra action: DRF's browsable page (its extra-actions menu) and its
    admin page (description, pagination, results) write every style attribute we allow."""

    permission_classes = [AllowAny]
    authentication_classes = []
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, AdminRenderer]
    pagination_class = OnePerPage

    def get_queryset(self):
        return [{"name": "one"}, {"name": "two"}]

    def list(self, request):
        return self.get_paginated_response(self.paginate_queryset(self.get_queryset()))

    @action(detail=False)
    def tally(self, request):
        return Response({"count": 2})


router = routers.SimpleRouter(trailing_slash=False)
router.register("csp-test/things", ThingViewSet, basename="thing")

urlpatterns = [
    path("csp-test/answer", answer),
    path("csp-test/exempt", csp_exempt()(answer)),
    path("csp-test/own", csp({"default-src": [SELF]})(answer)),
    path("csp-test/report-only", csp({"default-src": [NONE], "report-uri": "/csp-report"}, REPORT_ONLY=True)(answer)),
    path("csp-test/update", csp_update({"img-src": ["https://img.example"]})(answer)),
    path("csp-test/page-replace", csp_replace({"img-src": [SELF, "https://img.example"]})(page)),
    *router.urls,
]
