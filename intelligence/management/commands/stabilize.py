"""manage.py stabilize on --reason "..." | off [--reason "..."] | status

Turns stabilize mode on or off from a shell (audited and alerted as from the admin), or says
its state. --actor names the staff user it is recorded under; without it, the record says
which account on which machine ran the command."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from intelligence.services.stabilize import command_line_actor, stabilize_off, stabilize_on, stabilize_state
from levqor.errors import AppError

DEFAULT_OFF_REASON = "turned off with manage.py stabilize off"


class Command(BaseCommand):
    help = "Turn stabilize mode on or off (a reason is required to turn it on), or show its state."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["on", "off", "status"])
        parser.add_argument("--reason", default="", help="Why (required for on; kept in the audit, sent with the alert).")
        parser.add_argument("--actor", default="", help="Email of the staff user to record it under.")

    def handle(self, *args, action, reason, actor, **options):
        if action == "status":
            self._status()
            return
        reason = reason.strip() or (DEFAULT_OFF_REASON if action == "off" else "")
        if not reason:
            raise CommandError('A reason is required: manage.py stabilize on --reason "..."')
        user = self._actor(actor) if actor else None
        turn = stabilize_on if action == "on" else stabilize_off
        try:
            event = turn(actor=user, actor_label="" if user else command_line_actor(), reason=reason, source="command")
        except AppError as exc:
            raise CommandError(exc.message) from exc
        if event is None:
            self.stdout.write(f"Stabilize mode was already {action}; nothing changed.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Stabilize mode is {action}."))
        self._status()

    def _actor(self, email: str):
        user = get_user_model().objects.filter(email__iexact=email.strip(), is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError(f"No active staff user {email!r}.")
        return user

    def _status(self):
        state = stabilize_state()
        self.stdout.write(f"Stabilize mode: {'on' if state['enabled'] else 'off'}")
        if state["since"]:
            since = datetime.fromisoformat(state["since"])
            self.stdout.write(f"  since:  {since:%Y-%m-%d %H:%M:%S} UTC")
            self.stdout.write(f"  by:     {state['by']}")
            self.stdout.write(f"  reason: {state['reason']}")
