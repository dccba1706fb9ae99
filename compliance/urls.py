from django.urls import path

from compliance import views

urlpatterns = [
    path("legal/accept-terms", views.accept_terms, name="accept-terms"),
    path("consent", views.consent, name="consent"),
    path("consent/analytics-event", views.analytics_event, name="consent-analytics-event"),
    path("settings", views.settings_page, name="settings"),
    path("settings/marketing", views.settings_marketing, name="settings-marketing"),
    path("settings/export", views.settings_export, name="settings-export"),
    path("settings/delete", views.settings_delete, name="settings-delete"),
    path("marketing/confirm", views.marketing_confirm, name="marketing-confirm-page"),
    path("marketing/unsubscribe/<str:token>", views.marketing_unsubscribe, name="marketing-unsubscribe-page"),
]
