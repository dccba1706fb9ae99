"""Users, referrals and analytics API: thin DRF views that parse, call a service and serialize.

Who may see whom: a key sees and changes only its owner's user record. An operator (a signed-in
staff member, or a staff member's key with admin:read: accounts.permissions.request_is_operator)
may read any user, and, with users:write, upsert or change any user; the old service's upsert of
new users is an operator's sign-up sync."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.models import User, email_normalise
from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator, request_is_operator
from accounts.serializers import ReferralTrackSerializer, UserProfileSerializer, UserSerializer, UserUpsertSerializer
from accounts.services.users import referral_track, user_update, user_upsert
from levqor.errors import AppError, ErrorCode
from levqor.validation import request_validated


def _user_visible(request, user_id) -> User:
    """The user, if this request may read it; else 404 (not 403: others' ids are not confirmed)."""
    user = selectors.user_get(user_id=user_id) if request_is_operator(request) or str(user_id) == str(request.user.pk) \
        else None
    if user is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such user.", details={"user_id": str(user_id)})
    return user


def _user_body(user: User) -> dict:
    return UserSerializer(user).data


_USER_ENVELOPE = {"user": UserSerializer()}


class UserScopedView(APIView):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"GET": "users:read", "POST": "users:write", "PATCH": "users:write"}


class UserUpsertView(UserScopedView):
    @extend_schema(request=UserUpsertSerializer, summary="Create or update a user by email (old Levqor contract)",
                   responses={201: inline_serializer("UserCreated", {"created": serializers.BooleanField(),
                                                                     **_USER_ENVELOPE}),
                              200: inline_serializer("UserUpdated", {"updated": serializers.BooleanField(),
                                                                     **_USER_ENVELOPE})})
    def post(self, request):
        data = request_validated(UserUpsertSerializer, request)
        email = data.pop("email")
        if email_normalise(email) != email_normalise(request.user.email) and not request_is_operator(request):
            raise AppError(ErrorCode.PERMISSION_DENIED, "This key may only upsert its owner's own user record.",
                           details={"field": "email"})
        user, created = user_upsert(email=email, changes=data)
        if created:
            return Response({"created": True, "user": _user_body(user)}, status=status.HTTP_201_CREATED)
        return Response({"updated": True, "user": _user_body(user)}, status=status.HTTP_200_OK)


class UserDetailView(UserScopedView):
    @extend_schema(responses=UserSerializer, summary="One user")
    def get(self, request, user_id):
        return Response(_user_body(_user_visible(request, user_id)))

    @extend_schema(request=UserProfileSerializer, responses=UserSerializer,
                   summary="Change a user: absent fields are kept, meta is merged key by key")
    def patch(self, request, user_id):
        user = _user_visible(request, user_id)
        changes = request_validated(UserProfileSerializer, request, partial=True)
        return Response(_user_body(user_update(user=user, changes=changes)))


class UserCollectionView(UserScopedView):
    @extend_schema(parameters=[OpenApiParameter("email", str, required=True)], responses=UserSerializer,
                   operation_id="users_by_email",
                   summary="The user with this email (404 when none)")
    def get(self, request):
        email = request.query_params.get("email", "").strip()
        if not email:
            raise AppError(ErrorCode.VALIDATION_FAILED, "Give the email to look up: ?email=...",
                           details={"errors": [{"field": "email", "message": "This query parameter is required."}]})
        allowed = request_is_operator(request) or email_normalise(email) == email_normalise(request.user.email)
        user = selectors.user_get_by_email(email=email) if allowed else None
        if user is None:
            raise AppError(ErrorCode.NOT_FOUND, "No user has this email.", details={"email": email})
        return Response(_user_body(user))


class ReferralTrackView(APIView):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"POST": "users:write"}

    @extend_schema(request=ReferralTrackSerializer, summary="Record a referral (old Levqor contract)",
                   responses={201: inline_serializer("ReferralTracked", {"ok": serializers.BooleanField(),
                                                                         "referral_id": serializers.IntegerField()})})
    def post(self, request):
        data = request_validated(ReferralTrackSerializer, request)
        referral = referral_track(**data)
        return Response({"ok": True, "referral_id": referral.pk}, status=status.HTTP_201_CREATED)


class AnalyticsView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="Users and referrals in the last 7 and 30 days (old /admin/analytics)",
                   responses=inline_serializer("Analytics", {
                       "users": inline_serializer("AnalyticsUsers", {
                           "total": serializers.IntegerField(), "new_7d": serializers.IntegerField(),
                           "new_30d": serializers.IntegerField()}),
                       "referrals": inline_serializer("AnalyticsReferrals", {
                           "total_7d": serializers.IntegerField(), "total_30d": serializers.IntegerField(),
                           "top_sources": inline_serializer("AnalyticsSource", {
                               "source": serializers.CharField(), "count": serializers.IntegerField()}, many=True)}),
                   }))
    def get(self, request):
        return Response({"users": selectors.analytics_users(), "referrals": selectors.analytics_referrals()})
