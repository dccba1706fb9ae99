from django.apps import AppConfig


class IntelligenceConfig(AppConfig):
    """The operations back-office: flags and stabilize mode, metrics, anomalies, alerts,
    incidents, auto-tune. It reads every app and owns nothing of theirs (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "intelligence"
    verbose_name = "Operations"

    def ready(self):
        self._ready_flags_and_stabilize()

    def _ready_flags_and_stabilize(self):
        """Flags and switches audited on every change; stabilize mode recorded and alerted however
        its switch is turned; the pause of low priority and intake's queue limit told to jobs."""
        from intelligence.services.flag_audit import flag_audit_connect, flag_changed
        from intelligence.services.ops_hooks import ops_hooks_register
        from intelligence.services.stabilize import stabilize_switch_changed

        flag_audit_connect()
        flag_changed.connect(stabilize_switch_changed, dispatch_uid="stabilize-switch-changed")
        ops_hooks_register()
