"""Test-only URLconf: the project's URLs plus two views that crash, as a bug in a view would,
with a secret in the exception's text that must reach no client: a plain Django view and a DRF
view under the API's prefix (so the API's middleware applies to it as to any API view)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from levqor.urls import handler400, handler403, handler404, handler500  # noqa: F401
from levqor.urls import urlpatterns as project_urlpatterns

PLAIN_PATH = "/test-crash/plain"
API_PATH = "/api/v1/test-crash"
SECRET = "database password is hunter2"


def crashing_view(request):
    raise RuntimeError(f"a bug in a plain Django view ({SECRET})")


class CrashingApiView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        raise RuntimeError(f"a bug in an API view (body keys: {sorted(request.data)}; {SECRET})")

    get = post


urlpatterns = [
    path(PLAIN_PATH.lstrip("/"), crashing_view),
    path(API_PATH.lstrip("/"), CrashingApiView.as_view()),
    *project_urlpatterns,
]
