"""The known feature flags and the stabilize switch, off, each with what it gates (issue 9 section 1).

The names and notes are copied here, as a migration must not change when the code does; the
code's list is intelligence.known_flags (a test holds the two equal). "Off" is off for everyone:
no one listed, no percent, and not even superusers (waffle's default would turn a flag on for
them), so an operator sees in a request what a task sees. A flag or switch that already exists
keeps its state; only a missing note is filled in. Each creation is kept in the flag audit."""

from django.db import migrations
from django.utils import timezone

FLAGS = {
    "AUTOSCALE_ENABLED": (
        "Profit-driven autoscale may act: the decision scales workers up or down (GET /ops/autoscale). Off: it "
        "holds. Issue 11 (billing and money, section 6). Held under stabilize mode."),
    "INCIDENT_AUTORECOVER": (
        "SLO incidents recover on their own: intake backpressure tightens and low-priority jobs pause until the "
        "incident resolves, recorded on its timeline. Off: an operator recovers. Issue 9, section 6. Held under "
        "stabilize mode."),
    "PRICING_AUTO_APPLY": (
        "Adaptive price suggestions and discount codes apply themselves (a new price for new subscriptions, "
        "discounts honoured at checkout). Off: they wait as suggestions. Issue 11 (pricing, discounts). Held under "
        "stabilize mode."),
    "AI_INSIGHTS_ENABLED": (
        "Platform insights are generated on their schedule (anonymised aggregates; manage.py report_generate "
        "insights). Off: only on demand. Issue 13 (reports)."),
    "SMART_OPS_ENABLED": (
        "Auto-tune suggestions (p95_target, queue_max) apply themselves instead of waiting for an operator in the "
        "admin. Issue 9, section 7. Held under stabilize mode."),
    "WEEKLY_BRIEF_ENABLED": (
        "The weekly governance email with its PDF report goes to OPS_EMAILS (Sundays 09:00 Europe/London). Off: "
        "not sent. Issue 13 (reports and ops emails)."),
    "AUTO_POSTMORTEM_ENABLED": (
        "When an SLO incident resolves, its postmortem (timeline, what was done and held, duration) is written and "
        "sent as an alert. Off: none is written. Issue 9 section 6 (incidents); its PDF in issue 13."),
}
STABILIZE_SWITCH = "STABILIZE_MODE"
STABILIZE_NOTE = (
    "Stabilize mode: every automatic change (auto-tune, incident auto-recovery, pricing, discounts, autoscale) is held "
    "and recorded as held; with STABILIZE_PAUSE_LOW_PRIORITY=true workers also leave low-priority jobs waiting. Turn "
    "it with manage.py stabilize or Operations > Stabilize mode.")
REASON = "A known flag of the product, created off by migration intelligence 0008_i9ops_known_flags."
FLAG_STATE = {"everyone": None, "percent": None, "testing": False, "superusers": False, "staff": False,
              "authenticated": False, "languages": "", "rollout": False}


def known_flags_create(apps, schema_editor):
    Flag = apps.get_model("waffle", "Flag")
    Switch = apps.get_model("waffle", "Switch")
    FlagChange = apps.get_model("intelligence", "FlagChange")
    now = timezone.now()
    changes = []
    for name, note in FLAGS.items():
        flag, created = Flag.objects.get_or_create(name=name, defaults={**FLAG_STATE, "note": note})
        if created:
            new = {"name": name, **FLAG_STATE, "note": note, "users": [], "groups": []}
            changes.append(FlagChange(at=now, kind="flag", name=name, old=None, new=new, source="migration",
                                      reason=REASON))
        elif not flag.note:
            Flag.objects.filter(pk=flag.pk).update(note=note)
    switch, created = Switch.objects.get_or_create(name=STABILIZE_SWITCH,
                                                   defaults={"active": False, "note": STABILIZE_NOTE})
    if created:
        changes.append(FlagChange(at=now, kind="switch", name=STABILIZE_SWITCH, old=None,
                                  new={"name": STABILIZE_SWITCH, "active": False, "note": STABILIZE_NOTE},
                                  source="migration", reason=REASON))
    elif not switch.note:
        Switch.objects.filter(pk=switch.pk).update(note=STABILIZE_NOTE)
    FlagChange.objects.bulk_create(changes)


class Migration(migrations.Migration):

    dependencies = [
        ("intelligence", "0007_i9ops_models"),
        ("waffle", "0004_update_everyone_nullbooleanfield"),
    ]

    operations = [
        migrations.RunPython(known_flags_create, migrations.RunPython.noop),
    ]
