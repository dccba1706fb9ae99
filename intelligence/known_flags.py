"""The feature flags the product knows, each with what it gates (and where that is built). The
data migration 0008_i9ops_known_flags creates them, off, with these notes; read them with
intelligence.services.flags.flag_active(NAME). Every flag gates something real; none is decoration.

Stabilize mode is a waffle switch, not a flag (intelligence.services.automation.STABILIZE_SWITCH):
one state for everyone, turned with intelligence.services.stabilize."""

AUTOSCALE_ENABLED = "AUTOSCALE_ENABLED"
INCIDENT_AUTORECOVER = "INCIDENT_AUTORECOVER"
PRICING_AUTO_APPLY = "PRICING_AUTO_APPLY"
AI_INSIGHTS_ENABLED = "AI_INSIGHTS_ENABLED"
SMART_OPS_ENABLED = "SMART_OPS_ENABLED"
WEEKLY_BRIEF_ENABLED = "WEEKLY_BRIEF_ENABLED"
AUTO_POSTMORTEM_ENABLED = "AUTO_POSTMORTEM_ENABLED"

KNOWN_FLAGS: dict[str, str] = {
    AUTOSCALE_ENABLED: (
        "Profit-driven autoscale may act: the decision scales workers up or down (GET /ops/autoscale). Off: it "
        "holds. Issue 11 (billing and money, section 6). Held under stabilize mode."),
    INCIDENT_AUTORECOVER: (
        "SLO incidents recover on their own: intake backpressure tightens and low-priority jobs pause until the "
        "incident resolves, recorded on its timeline. Off: an operator recovers. Issue 9, section 6. Held under "
        "stabilize mode."),
    PRICING_AUTO_APPLY: (
        "Adaptive price suggestions and discount codes apply themselves (a new price for new subscriptions, "
        "discounts honoured at checkout). Off: they wait as suggestions. Issue 11 (pricing, discounts). Held under "
        "stabilize mode."),
    AI_INSIGHTS_ENABLED: (
        "Platform insights are generated on their schedule (anonymised aggregates; manage.py report_generate "
        "insights). Off: only on demand. Issue 13 (reports)."),
    SMART_OPS_ENABLED: (
        "Auto-tune suggestions (p95_target, queue_max) apply themselves instead of waiting for an operator in the "
        "admin. Issue 9, section 7. Held under stabilize mode."),
    WEEKLY_BRIEF_ENABLED: (
        "The weekly governance email with its PDF report goes to OPS_EMAILS (Sundays 09:00 Europe/London). Off: "
        "not sent. Issue 13 (reports and ops emails)."),
    AUTO_POSTMORTEM_ENABLED: (
        "When an SLO incident resolves, its postmortem (timeline, what was done and held, duration) is written and "
        "sent as an alert. Off: none is written. Issue 9 section 6 (incidents); its PDF in issue 13."),
}
