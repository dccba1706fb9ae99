"""The webhook platform's API under /api/v1/webhooks/ (endpoints, deliveries, replay, secrets)."""

from django.urls import path

from levqor.webhooks import api

urlpatterns = [
    path("endpoints", api.EndpointCollectionView.as_view(), name="webhook-endpoint-list"),
    path("endpoints/<uuid:endpoint_id>", api.EndpointDetailView.as_view(), name="webhook-endpoint-detail"),
    path("endpoints/<uuid:endpoint_id>/rotate", api.EndpointRotateView.as_view(), name="webhook-endpoint-rotate"),
    path("endpoints/<uuid:endpoint_id>/enable", api.EndpointEnableView.as_view(), name="webhook-endpoint-enable"),
    path("endpoints/<uuid:endpoint_id>/disable", api.EndpointDisableView.as_view(), name="webhook-endpoint-disable"),
    path("event-types", api.EventTypeListView.as_view(), name="webhook-event-types"),
    path("deliveries", api.DeliveryCollectionView.as_view(), name="webhook-delivery-list"),
    path("deliveries/replay-failed", api.DeliveryReplayFailedView.as_view(), name="webhook-delivery-replay-failed"),
    path("deliveries/<uuid:delivery_id>", api.DeliveryDetailView.as_view(), name="webhook-delivery-detail"),
    path("deliveries/<uuid:delivery_id>/replay", api.DeliveryReplayView.as_view(), name="webhook-delivery-replay"),
    path("secret", api.SigningSecretView.as_view(), name="webhook-secret"),
    path("secret/rotate", api.SigningSecretRotateView.as_view(), name="webhook-secret-rotate"),
]
