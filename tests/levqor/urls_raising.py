"""The project's URLs plus two views that fail, for the error-shape tests."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from levqor.urls import handler400, handler403, handler404, handler500  # noqa: F401
from levqor.urls import urlpatterns as project_urlpatterns


def django_view_that_fails(request):
    raise RuntimeError("database password is hunter2")


class ApiViewThatFails(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        raise RuntimeError("database password is hunter2")


urlpatterns = [
    path("boom", django_view_that_fails),
    path("api/v1/boom", ApiViewThatFails.as_view()),
    *project_urlpatterns,
]
