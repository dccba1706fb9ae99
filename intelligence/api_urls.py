from django.urls import path

from intelligence.api import flags

urlpatterns = [
    path("flags", flags.FlagListView.as_view(), name="flag-list"),
]
