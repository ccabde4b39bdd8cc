"""From the wizard's pages to ``application_create`` — the API's own service and its body shape —
and back: a field the service refuses sends the traveller to the page that asked for it."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import translation

from claims.services import applications as rules

SESSION_APPLICATION = "site_application"

# The service names fields by the API's dotted paths; each belongs to one page of the wizard.
FIELD_STEPS = {
    "inquiry_number": ("coupon", "inquiry_number"),
    "expires_on": ("coupon", "expires_on"),
    "name": ("name", "name"),
    "name_kana": ("name", "name_kana"),
    "contact": ("contact", "channel"),
    "contact.phone": ("contact", "phone"),
    "contact.email": ("contact", "email"),
    "prefecture_code": ("trip", "prefecture_code"),
    "travel_date": ("trip", "travel_date"),
    "payout": ("payout", "method"),
    "payout.method": ("payout", "method"),
    "payout.bank_code": ("bank", "code"),
    "payout.branch_code": ("branch", "code"),
    "payout.account_type": ("account", "account_type"),
    "payout.account_number": ("account", "account_number"),
    "payout.yucho_symbol": ("yucho", "yucho_symbol"),
    "payout.yucho_number": ("yucho", "yucho_number"),
}


def application_body(forms: dict[str, Any]) -> dict[str, Any]:
    """The API's request body (public-api.md §2) from the wizard's cleaned pages."""
    coupon = forms["coupon"].cleaned_data
    name = forms["name"].cleaned_data
    contact = forms["contact"].cleaned_data
    trip = forms["trip"].cleaned_data
    method = forms["payout"].cleaned_data["method"]
    body: dict[str, Any] = {
        "inquiry_number": coupon["inquiry_number"],
        "expires_on": coupon["expires_on"].isoformat(),
        "name": name["name"],
        "name_kana": name["name_kana"],
        "contact": {"phone": contact["phone"]}
        if contact["channel"] == "sms"
        else {"email": contact["email"]},
        "prefecture_code": trip["prefecture_code"],
        "travel_date": trip["travel_date"].isoformat(),
    }
    if method == "bank":
        account = forms["account"].cleaned_data
        body["payout"] = {
            "method": "bank",
            "bank_code": forms["bank"].cleaned_data["code"],
            "branch_code": forms["branch"].cleaned_data["code"],
            "account_type": account["account_type"],
            "account_number": account["account_number"],
            "holder_kana": account["holder_kana"],
        }
    elif method == "yucho":
        yucho = forms["yucho"].cleaned_data
        body["payout"] = {
            "method": "bank",
            "yucho_symbol": yucho["yucho_symbol"],
            "yucho_number": yucho["yucho_number"],
            "holder_kana": yucho["holder_kana"],
        }
    else:
        body["payout"] = {"method": "points"}
    return body


def _holder_step(forms: dict[str, Any]) -> str:
    return "yucho" if forms["payout"].cleaned_data["method"] == "yucho" else "account"


def application_from_wizard(wizard: Any, forms: dict[str, Any]) -> HttpResponse:
    """Create the application (one per wizard: its idempotency key), then ask for the code."""
    extra = wizard.storage.extra_data
    key = f"site-{extra['key']}"
    try:
        created = rules.application_create(
            data=application_body(forms),
            idempotency_key=key,
            language=(translation.get_language() or "ja")[:2],
        )
    except rules.ApplicationInvalid as exc:
        pending: dict[str, dict[str, list[str]]] = {}
        for path, messages in exc.errors.items():
            step, field = FIELD_STEPS.get(path, (None, None))
            if path == "payout.holder_kana":
                step, field = _holder_step(forms), "holder_kana"
            if step is None or step not in wizard.get_form_list():
                step, field = "confirm", None
            pending.setdefault(step, {}).setdefault(field or "__all__", []).extend(str(m) for m in messages)
        first = next(name for name in wizard.get_form_list() if name in pending)
        return _back_to(wizard, first, pending)
    except rules.NotApplicable as exc:
        outcome = dict(extra.get("outcome") or {})
        outcome.update(
            outcome=exc.outcome,
            message={"ja": exc.message.ja, "en": exc.message.en},
            bank_transfer_allowed=False,
        )
        wizard.storage.extra_data = {**extra, "outcome": outcome}
        wizard.storage.data["step_data"].pop("result", None)
        return _back_to(wizard, "result", {})
    except rules.IdempotencyConflict:  # pragma: no cover - one key per wizard, reset once used
        import uuid

        wizard.storage.extra_data = {**extra, "key": uuid.uuid4().hex}
        return _back_to(wizard, "confirm", {})
    application = created.application
    wizard.request.session[SESSION_APPLICATION] = {
        "id": str(application.public_id),
        "sent_to": created.response.get("code_sent_to", ""),
        "channel": "sms" if application.phone else "email",
    }
    return redirect("site:apply_code")


class _Keep(Exception):
    """render_done resets the wizard after done(); a refused application must keep its pages."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _back_to(wizard: Any, step: str, pending: dict[str, dict[str, list[str]]]) -> HttpResponse:
    wizard.storage.extra_data = {**wizard.storage.extra_data, "pending_errors": pending, "changing": True}
    raise _Keep(wizard.render_goto_step(step))
