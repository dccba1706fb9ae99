"""The growth funnel's events and daily tables in the admin, read-only (events are written by the
capture hooks, the tables by the schedules); the charts are on /admin/money/growth/."""

from django.contrib import admin

from intelligence.models import GrowthDay, GrowthEvent, GrowthRevenueDay, RetentionCohort, RetentionDay
from levqor.admin import ReadOnlyAdmin


@admin.register(GrowthEvent)
class GrowthEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "user", "visitor", "source", "campaign", "medium")
    list_filter = ("kind", "source", "medium")
    search_fields = ("source", "campaign", "visitor", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "day"


@admin.register(GrowthDay)
class GrowthDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "source", "visits", "signups", "paid", "computed_at")
    list_filter = ("source",)
    date_hierarchy = "day"


@admin.register(GrowthRevenueDay)
class GrowthRevenueDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "source", "currency", "revenue_minor", "computed_at")
    list_filter = ("source", "currency")
    date_hierarchy = "day"


@admin.register(RetentionDay)
class RetentionDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "source", "dau", "wau", "mau", "paying", "computed_at")
    list_filter = ("source",)
    date_hierarchy = "day"


@admin.register(RetentionCohort)
class RetentionCohortAdmin(ReadOnlyAdmin):
    list_display = ("cohort", "weeks_since", "size", "active", "computed_at")
    date_hierarchy = "cohort"
