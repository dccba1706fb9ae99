from django.urls import path

from accounts import api

urlpatterns = [
    path("usage", api.UsageView.as_view(), name="usage"),
]
