"""The receipt page ``/r/<token>`` (issue #10, 2): phone-first, Japanese/English through the site's
i18n, no JavaScript — the same service as ``/api/v1/receipts/{token}``."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from payouts.services import receipts

BRAND_LABELS = {
    "amazon": _("Amazon ギフトカード"),
    "ponta": _("Ponta ポイント"),
    "paypay": _("PayPay ポイント"),
    "edy": _("EdyギフトID"),
    "nanaco": _("nanacoギフト"),
}


class BrandForm(forms.Form):
    brand = forms.ChoiceField(
        label=_("受け取るポイント"),
        choices=list(BRAND_LABELS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": _("受け取るポイントを選んでください。")},
        help_text=_("選んだ後は変更できません。"),
    )


@never_cache  # the page shows money and a bearer link: never kept by a shared cache
@csrf_protect
def receipt(request: HttpRequest, token: str) -> HttpResponse:
    form = BrandForm(request.POST if request.method == "POST" else None)
    refused = ""
    if request.method == "POST" and form.is_valid():
        try:
            answer = receipts.receipt_choose(token=token, brand=form.cleaned_data["brand"])
        except receipts.ReceiptRefused as exc:
            refused = exc.code
            answer = receipts.receipt_get(token=token)
    else:
        answer = receipts.receipt_get(token=token)
    if answer is None:
        return render(request, "payouts/receipt_unknown.html", status=404)
    context = {
        "form": form,
        "receipt": answer,
        "choice_label": BRAND_LABELS.get(answer.choice or "", ""),
        "refused": refused,
    }
    status = {"expired": 410, "other_brand": 409}.get(refused, 200)
    if request.method == "POST" and not form.is_valid():
        status = 400
    return render(request, "payouts/receipt.html", context, status=status)


@never_cache
@csrf_protect
def reminders_stop(request: HttpRequest, signed: str) -> HttpResponse:
    """The opt-out link at the end of every reminder: a page with one button (a GET changes
    nothing, so a link preview cannot opt anyone out); the POST records it."""
    from payouts.services.reminders import opt_out, opt_out_valid

    if not opt_out_valid(signed=signed):
        return render(request, "payouts/receipt_unknown.html", status=404)
    done = request.method == "POST" and opt_out(signed=signed)
    return render(request, "payouts/reminders_stop.html", {"done": done})
