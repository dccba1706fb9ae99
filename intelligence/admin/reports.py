"""Generated PDF reports in the admin (staff only): the list (kind, title, period, pages, size,
emailed), the PDF's download, "Generate weekly / insights now" buttons and an "Email to ops"
action. Nothing is editable: rows come from intelligence.services.reports (or the integrity check)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from intelligence.models import Report
from intelligence.services.reports import report_email, report_generate
from levqor.admin import ReadOnlyAdmin
from levqor.errors import AppError

GENERATE_KINDS = (Report.Kind.WEEKLY, Report.Kind.INSIGHTS)


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("title", "kind", "period", "pages", "size", "emailed", "source", "created_at", "download")
    list_filter = ("kind", "source")
    date_hierarchy = "created_at"
    fields = ("kind", "title", "period_start", "period_end", "pages", "size_bytes", "created_at", "created_by",
              "source", "emailed_to", "emailed_at", "email_error", "headline", "download")
    readonly_fields = fields
    actions = ["email_to_ops"]
    change_list_template = "admin/intelligence/report/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pdf")  # the list never needs the files

    @admin.display(description="period (UTC)", ordering="period_end")
    def period(self, obj):
        return f"{obj.period_start:%Y-%m-%d %H:%M} - {obj.period_end:%Y-%m-%d %H:%M}"

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj):
        return f"{obj.size_bytes / 1024:.1f} KB"

    @admin.display(description="emailed")
    def emailed(self, obj):
        if obj.emailed_at:
            return f"{obj.emailed_at:%Y-%m-%d %H:%M} to {', '.join(obj.emailed_to)}"
        return f"no: {obj.email_error}" if obj.email_error else "-"

    @admin.display(description="PDF")
    def download(self, obj):
        url = reverse("admin:intelligence_report_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.filename)

    @admin.action(description="Email the selected reports to ops (OPS_EMAILS)", permissions=["view"])
    def email_to_ops(self, request, queryset):
        for report in queryset.defer(None):
            sent = report_email(report=report)
            if sent:
                self.log_change(request, report, f"Emailed to {', '.join(sent)}")
                self.message_user(request, f"Report #{report.pk} emailed to {', '.join(sent)}.", messages.SUCCESS)
            else:
                self.message_user(request, f"Report #{report.pk} not emailed: {report.email_error}", messages.WARNING)

    def get_urls(self):
        return [path("<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                     name="intelligence_report_download"),
                path("generate/<str:kind>/", self.admin_site.admin_view(self.generate_view),
                     name="intelligence_report_generate"),
                *super().get_urls()]

    def download_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = get_object_or_404(Report, pk=pk)
        response = HttpResponse(bytes(report.pdf), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
        response["Content-Length"] = str(report.size_bytes or len(report.pdf))
        return response

    def generate_view(self, request, kind):
        """Generate now (the buttons on the list): weekly or insights, through the service."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request) or kind not in GENERATE_KINDS:
            raise PermissionDenied
        try:
            report = report_generate(kind=kind, actor=request.user, source="admin")
        except AppError as exc:
            self.message_user(request, f"Not generated: {exc.message}", messages.ERROR)
        else:
            self.log_addition(request, report, "Generated now")
            self.message_user(request, f"Generated report #{report.pk}: {report.title}, {report.pages} page(s).",
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:intelligence_report_changelist"))

    def changelist_view(self, request, extra_context=None):
        extra = {"report_generate_kinds": [(kind.value, kind.label) for kind in GENERATE_KINDS]}
        return super().changelist_view(request, {**(extra_context or {}), **extra})
