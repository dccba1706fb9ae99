"""The public page of an approved partner (/partners/<id>): its name and rating, and for a
signed-in user forms to rate it and to report it (Post/Redirect/Get; errors shown on the page)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from levqor.errors import AppError
from partners.models import Partner
from partners.services.ratings import partner_rate, partner_rating_of
from partners.services.reports import REASON_MAX, REASON_MIN, partner_report

STAR_CHOICES = [(n, f"{n} star{'s' if n > 1 else ''}") for n in range(5, 0, -1)]


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(choices=STAR_CHOICES, coerce=int, widget=forms.RadioSelect,
                                   error_messages={"required": "Choose 1 to 5 stars.",
                                                   "invalid_choice": "Choose 1 to 5 stars."})


class ReportForm(forms.Form):
    reason = forms.CharField(min_length=REASON_MIN, max_length=REASON_MAX, strip=True,
                             widget=forms.Textarea(attrs={"rows": 4, "maxlength": REASON_MAX}),
                             help_text=f"What happened ({REASON_MIN} to {REASON_MAX} characters). Staff review every report.")


def _approved_partner(partner_id) -> Partner:
    partner = Partner.objects.filter(pk=partner_id, deleted_at__isnull=True, status=Partner.Status.APPROVED).first()
    if partner is None:
        raise Http404("No such partner.")
    return partner


def _render(request, partner: Partner, *, rating_form=None, report_form=None, status=200):
    mine = partner_rating_of(partner=partner, user=request.user)
    is_owner = request.user.is_authenticated and partner.owner_id == request.user.pk
    context = {
        "partner": partner,
        "my_rating": mine,
        "is_owner": is_owner,
        "rating_form": rating_form or RatingForm(initial={"stars": mine.stars if mine else None}),
        "report_form": report_form or ReportForm(),
        "star_choices": STAR_CHOICES,
    }
    return render(request, "partners/profile.html", context, status=status)


@require_GET
def partner_profile(request, partner_id):
    return _render(request, _approved_partner(partner_id))


@login_required
@require_POST
def partner_profile_rate(request, partner_id):
    partner = _approved_partner(partner_id)
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            rating = partner_rate(partner=partner, user=request.user, stars=form.cleaned_data["stars"])
        except AppError as exc:
            form.add_error(None, exc.message)
            return _render(request, partner, rating_form=form, status=exc.status)
        messages.success(request, f"Thank you: your rating is {rating.stars} of 5.")
        return redirect("partner-profile", partner_id=partner.pk)
    return _render(request, partner, rating_form=form, status=400)


@login_required
@require_POST
def partner_profile_report(request, partner_id):
    partner = _approved_partner(partner_id)
    form = ReportForm(request.POST)
    if form.is_valid():
        try:
            partner_report(partner=partner, reporter=request.user, reason=form.cleaned_data["reason"])
        except AppError as exc:
            form.add_error(None, exc.message)
            return _render(request, partner, report_form=form, status=exc.status)
        messages.success(request, "Thank you: your report was sent. Staff will review it.")
        return redirect("partner-profile", partner_id=partner.pk)
    return _render(request, partner, report_form=form, status=400)
