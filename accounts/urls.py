from django.urls import path

from accounts import api

urlpatterns = [
    path("users", api.UserCollectionView.as_view(), name="user-by-email"),
    path("users/upsert", api.UserUpsertView.as_view(), name="user-upsert"),
    path("users/<uuid:user_id>", api.UserDetailView.as_view(), name="user-detail"),
    path("referrals/track", api.ReferralTrackView.as_view(), name="referral-track"),
    path("analytics", api.AnalyticsView.as_view(), name="analytics"),
]
