"""Everything we hold about a user, as JSON (GDPR art. 15/20): never a hash or a secret."""

from django.utils import timezone

from accounts.selectors import api_key_list_for
from compliance import selectors
from compliance.models import TermsAcceptance
from jobs.selectors import job_export_for


def user_data_export(*, user) -> dict:
    consent = selectors.marketing_consent_get(user=user)
    return {
        "exported_at": timezone.now(),
        "profile": {"id": user.pk, "email": user.email, "name": user.name, "locale": user.locale,
                    "currency": user.currency, "meta": user.meta, "tier": user.tier,
                    "created_at": user.created_at, "updated_at": user.updated_at, "last_login": user.last_login},
        "terms_acceptances": [
            {"version": a.version.version, "accepted_at": a.accepted_at, "ip": a.ip, "user_agent": a.user_agent}
            for a in TermsAcceptance.objects.filter(user=user).select_related("version").order_by("accepted_at")],
        "cookie_consents": [
            {"policy_version": r.policy_version, "choices": r.choices, "ip_truncated": r.ip_truncated,
             "user_agent": r.user_agent, "at": r.at} for r in selectors.user_consent_records(user=user)],
        "marketing": {
            "status": consent.status if consent else "none",
            "consent_at": consent.consent_at if consent else None,
            "consent_ip": consent.consent_ip if consent else None,
            "double_opt_in_at": consent.double_opt_in_at if consent else None,
            "double_opt_in_ip": consent.double_opt_in_ip if consent else None,
            "events": [{"action": e.action, "source": e.source, "ip": e.ip, "user_agent": e.user_agent, "at": e.at}
                       for e in selectors.user_marketing_events(user=user)],
        },
        "api_keys": [
            {"prefix": k.prefix, "name": k.name, "livemode": k.livemode, "scopes": k.scopes,
             "created_at": k.created_at, "last_used_at": k.last_used_at, "last_used_ip": k.last_used_ip,
             "expires_at": k.expires_at, "revoked_at": k.revoked_at} for k in api_key_list_for(user)],
        "jobs": [
            {"id": j.pk, "workflow": j.workflow, "livemode": j.livemode, "status": j.status, "payload": j.payload,
             "result": j.result, "callback_url": j.callback_url, "error_code": j.error_code,
             "error_message": j.error_message, "estimated_cost": j.estimated_cost, "actual_cost": j.actual_cost,
             "created_at": j.created_at, "started_at": j.started_at, "finished_at": j.finished_at,
             "events": [{"kind": e.kind, "attempt": e.attempt, "from_status": e.from_status,
                         "to_status": e.to_status, "error_code": e.error_code, "error_message": e.error_message,
                         "data": e.data, "at": e.at} for e in j.events.all()]}
            for j in job_export_for(user)],
    }
