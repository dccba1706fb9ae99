"""compliance's sections of the personal data registry (accounts.personal_data): terms
acceptances, cookie consents and marketing consent with their trails. Their erasure is in
compliance.services (the rows stay as proof of what was consented when, naming nobody)."""

from accounts.personal_data import personal_data_register
from compliance import selectors, services
from compliance.models import TermsAcceptance


def terms_acceptances_export(*, user) -> list[dict]:
    return [{"version": a.version.version, "accepted_at": a.accepted_at, "ip": a.ip, "user_agent": a.user_agent}
            for a in TermsAcceptance.objects.filter(user=user).select_related("version").order_by("accepted_at")]


def cookie_consents_export(*, user) -> list[dict]:
    return [{"policy_version": r.policy_version, "choices": r.choices, "ip_truncated": r.ip_truncated,
             "user_agent": r.user_agent, "at": r.at} for r in selectors.user_consent_records(user=user)]


def marketing_export(*, user) -> dict:
    consent = selectors.marketing_consent_get(user=user)
    return {
        "status": consent.status if consent else "none",
        "consent_at": consent.consent_at if consent else None,
        "consent_ip": consent.consent_ip if consent else None,
        "double_opt_in_at": consent.double_opt_in_at if consent else None,
        "double_opt_in_ip": consent.double_opt_in_ip if consent else None,
        "events": [{"action": e.action, "source": e.source, "ip": e.ip, "user_agent": e.user_agent, "at": e.at}
                   for e in selectors.user_marketing_events(user=user)],
    }


def compliance_personal_data_register() -> None:
    personal_data_register(name="terms_acceptances", export=terms_acceptances_export,
                           erase=services.terms_personal_data_erase)
    personal_data_register(name="cookie_consents", export=cookie_consents_export,
                           erase=services.cookie_consent_personal_data_erase)
    personal_data_register(name="marketing", export=marketing_export, erase=services.marketing_personal_data_erase)
