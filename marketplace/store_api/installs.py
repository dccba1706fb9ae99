"""GET /api/v1/marketplace/installs (the caller's installed modules in the key's mode, each with its
workflow) and DELETE /api/v1/marketplace/installs/<id> (uninstall). Installing happens by buying."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_livemode
from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from marketplace.models import Installation
from marketplace.services.installs import listing_uninstall
from marketplace.services.modules import installs_live, listing_workflow

_INSTALL_FIELDS = {
    "id": serializers.IntegerField(),
    "livemode": serializers.BooleanField(),
    "created_at": serializers.DateTimeField(),
    "listing": inline_serializer("MarketplaceInstallListing", {
        "id": serializers.UUIDField(), "slug": serializers.CharField(), "name": serializers.CharField(),
        "partner": serializers.CharField()}),
    "workflow": inline_serializer("MarketplaceInstallWorkflow", {
        "name": serializers.CharField(help_text="Submit jobs with this workflow name (partner.<slug>)."),
        "description": serializers.CharField(), "payload_schema": serializers.JSONField()}),
}



def install_data(install: Installation) -> dict:
    listing = install.listing
    workflow = listing_workflow(listing)
    return {"id": install.pk, "livemode": install.livemode, "created_at": install.created_at,
            "listing": {"id": listing.pk, "slug": listing.slug, "name": listing.name, "partner": listing.partner.name},
            "workflow": {"name": workflow.name, "description": workflow.description,
                         "payload_schema": workflow.payload_schema}}


class InstallListView(APIView):
    required_scopes = {"GET": "marketplace:read"}

    @extend_schema(summary="My installed marketplace modules (the key's mode), each with its workflow",
                   operation_id="marketplace_installs_list",
                   responses={200: inline_serializer("MarketplaceInstallPage", {
                       "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
                       "results": inline_serializer("MarketplaceInstall", _INSTALL_FIELDS, many=True)}),
                       **api_errors(400, 401, 403)})
    def get(self, request):
        installs = installs_live(owner_id=request.user.pk, livemode=request_livemode(request)).select_related(
            "listing__partner")
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(installs, request, view=self)
        return paginator.get_paginated_response([install_data(install) for install in page])


class InstallDetailView(APIView):
    required_scopes = {"DELETE": "marketplace:write"}

    @extend_schema(summary="Uninstall a module: its workflow is gone for new jobs at once",
                   operation_id="marketplace_install_delete", responses={204: None, **api_errors(401, 403, 404)})
    def delete(self, request, install_id: int):
        install = Installation.objects.filter(pk=install_id, user=request.user, livemode=request_livemode(request),
                                              uninstalled_at__isnull=True).first()
        if install is None:
            raise AppError(ErrorCode.NOT_FOUND, "No such installation.", details={"installation_id": install_id})
        listing_uninstall(user=request.user, installation=install)
        return Response(status=status.HTTP_204_NO_CONTENT)
