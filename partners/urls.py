"""Pages of the partners app (/partners)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

from partners import views

urlpatterns = [
    path("partners", views.partners_page, name="partners"),
]
