"""Test-only URLs: the project's own, plus views that crash, as a bug in a view would."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from levqor.urls import urlpatterns as project_urlpatterns

handler400 = "levqor.http_errors.handler400"
handler403 = "levqor.http_errors.handler403"
handler404 = "levqor.http_errors.handler404"
handler500 = "levqor.http_errors.handler500"


class CrashingApiView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        raise RuntimeError(f"a bug in an API view (body keys: {sorted(request.data)})")

    get = post


def crashing_view(request):
    raise RuntimeError("a bug in a plain Django view")


urlpatterns = [
    path("test-crash/api", CrashingApiView.as_view()),
    path("test-crash/plain", crashing_view),
    *project_urlpatterns,
]
