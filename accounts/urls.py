from django.urls import path

from accounts import api

urlpatterns = [
    path("keys", api.ApiKeyCollectionView.as_view(), name="key-list"),
    path("keys/<uuid:key_id>/rotate", api.ApiKeyRotateView.as_view(), name="key-rotate"),
    path("keys/<uuid:key_id>/revoke", api.ApiKeyRevokeView.as_view(), name="key-revoke"),
]
