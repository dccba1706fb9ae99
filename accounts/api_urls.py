from django.urls import path

from accounts.api import keys, usage, users

urlpatterns = [
    path("users", users.UserCollectionView.as_view(), name="user-by-email"),
    path("users/upsert", users.UserUpsertView.as_view(), name="user-upsert"),
    path("users/<uuid:user_id>", users.UserDetailView.as_view(), name="user-detail"),
    path("referrals/track", users.ReferralTrackView.as_view(), name="referral-track"),
    path("analytics", users.AnalyticsView.as_view(), name="analytics"),
    path("keys", keys.ApiKeyCollectionView.as_view(), name="key-list"),
    path("keys/<uuid:key_id>/rotate", keys.ApiKeyRotateView.as_view(), name="key-rotate"),
    path("keys/<uuid:key_id>/revoke", keys.ApiKeyRevokeView.as_view(), name="key-revoke"),
    path("usage", usage.UsageView.as_view(), name="usage"),
]
