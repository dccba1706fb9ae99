from django.urls import path

from compliance import api

urlpatterns = [
    path("users/<uuid:user_id>/accept-terms", api.AcceptTermsView.as_view(), name="user-accept-terms"),
    path("users/<uuid:user_id>/marketing-consent", api.MarketingConsentView.as_view(), name="user-marketing-consent"),
    path("users/<uuid:user_id>/marketing-unsubscribe", api.MarketingUnsubscribeView.as_view(),
         name="user-marketing-unsubscribe"),
    path("marketing/confirm", api.MarketingConfirmView.as_view(), name="marketing-confirm"),
]
