from django.urls import path

from levqor.webhooks import views

urlpatterns = [
    path("webhooks", views.webhooks_page, name="webhooks"),
    path("webhooks/endpoints/<uuid:endpoint_id>/rotate", views.endpoint_rotate, name="webhooks-endpoint-rotate"),
    path("webhooks/endpoints/<uuid:endpoint_id>/enable", views.endpoint_enable, name="webhooks-endpoint-enable"),
    path("webhooks/endpoints/<uuid:endpoint_id>/disable", views.endpoint_disable, name="webhooks-endpoint-disable"),
    path("webhooks/endpoints/<uuid:endpoint_id>/delete", views.endpoint_delete, name="webhooks-endpoint-delete"),
    path("webhooks/deliveries/<uuid:delivery_id>/replay", views.delivery_replay, name="webhooks-delivery-replay"),
]
