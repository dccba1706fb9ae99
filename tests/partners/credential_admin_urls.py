"""An admin site with the Partner page showing PartnerCredentialInline, as the registry's
PartnerAdmin will (test_credentials.py uses it through @pytest.mark.urls)."""

from django.contrib import admin
from django.urls import path

from partners.admin.credentials import PartnerCredentialInline
from partners.models import Partner

site = admin.AdminSite(name="credential_inline_admin")


class PartnerWithCredentialsAdmin(admin.ModelAdmin):
    fields = ["name", "status"]
    inlines = [PartnerCredentialInline]


site.register(Partner, PartnerWithCredentialsAdmin)
urlpatterns = [path("admin/", site.urls)]
