"""The application wizard (django-formtools), one question or one small group per page.

Steps: coupon → result (the coupon check's answer; only "apply" and, for a bank transfer instead
of points, "no application needed" lead on) → name → contact → trip → payout → bank → branch →
account, or yucho → confirm (check your answers). Confirming creates the application through
``claims.services.applications`` — the same service the API calls — with one idempotency key per
wizard, so a double click, the back button or a retry finds the application already made.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from formtools.wizard.views import NamedUrlSessionWizardView, WizardView

from claims.services import applications as rules
from claims.site import forms as site_forms
from claims.site.limits import coupon_check_limited
from claims.site.submit import SESSION_APPLICATION
from claims.site.window import Window, current_incident, window_state

FORMS = [
    ("coupon", site_forms.CouponForm),
    ("result", site_forms.ResultForm),
    ("name", site_forms.NameForm),
    ("contact", site_forms.ContactForm),
    ("trip", site_forms.TripForm),
    ("payout", site_forms.PayoutForm),
    ("bank", site_forms.BankForm),
    ("branch", site_forms.BranchForm),
    ("account", site_forms.AccountForm),
    ("yucho", site_forms.YuchoForm),
    ("confirm", site_forms.ConfirmForm),
]
SEARCH_STEPS = {"bank", "branch"}
HEADINGS = {
    "coupon": _("紙クーポンの番号と有効期限"),
    "name": _("お名前"),
    "contact": _("連絡先"),
    "trip": _("旅行について"),
    "payout": _("補償の受け取り方"),
    "bank": _("振込先の金融機関"),
    "branch": _("振込先の支店"),
    "account": _("口座の情報"),
    "yucho": _("ゆうちょ銀行の口座"),
    "confirm": _("申請内容の確認"),
}
RESULT_HEADINGS = {
    "apply": _("補償の対象です"),
    "no_application_needed": _("申請は不要です"),
    "call_center": _("コールセンターにお電話ください"),
    "already_applied": _("このクーポンは申請済みです"),
    "not_covered": _("このクーポンは補償の対象ではありません"),
    "not_found": _("クーポンが見つかりません"),
    "window_not_open": _("申請の受付はまだ始まっていません"),
    "window_closed": _("申請の受付は終了しました"),
}


def _outcome(wizard: WizardView) -> dict:
    return wizard.storage.extra_data.get("outcome") or {}


def _continues(wizard: WizardView) -> bool:
    """ "apply", or a bank transfer the check allows (points not wanted: the app route, or a 1-2 /
    2-x the call center has extended)."""
    outcome = _outcome(wizard)
    return outcome.get("outcome") == "apply" or bool(outcome.get("bank_transfer_allowed"))


def _bank_only(wizard: WizardView) -> bool:
    return _continues(wizard) and _outcome(wizard).get("outcome") != "apply"


def _method(wizard: WizardView) -> str | None:
    data = wizard.storage.get_step_data("payout")
    return data.get("payout-method") if data else None


def _bank(wizard: WizardView) -> bool:
    return _continues(wizard) and _method(wizard) == site_forms.PayoutForm.BANK


def _yucho(wizard: WizardView) -> bool:
    return _continues(wizard) and _method(wizard) == site_forms.PayoutForm.YUCHO


CONDITIONS = {
    "name": _continues,
    "contact": _continues,
    "trip": _continues,
    "payout": _continues,
    "bank": _bank,
    "branch": _bank,
    "account": _bank,
    "yucho": _yucho,
    "confirm": _continues,
}


def _national(e164: str) -> str:
    """+819012345678 → 090-1234-5678, as the traveller typed it."""
    import phonenumbers

    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, "JP"), phonenumbers.PhoneNumberFormat.NATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def _message(outcome: dict) -> str:
    message = outcome.get("message") or {}
    return str(rules.Text(ja=message.get("ja", ""), en=message.get("en", "")))


class ApplicationWizard(NamedUrlSessionWizardView):
    form_list = FORMS
    condition_dict = CONDITIONS

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        incident = current_incident()
        state = window_state(incident) if incident else Window.CLOSED
        if state != Window.OPEN:
            return render(request, "site/apply/window.html", {"incident": incident, "window": state.value})
        self.incident = incident
        return super().dispatch(request, *args, **kwargs)

    # --- flow ---------------------------------------------------------------------------------
    def get(self, *args, **kwargs):
        step = kwargs.get("step")
        if step is None and "reset" not in self.request.GET:
            # The way in from the landing page always starts afresh; a wizard half-way stays in
            # the session and its steps' URLs still work.
            self.storage.reset()
            self.storage.current_step = self.steps.first
        if step == self.done_step_name:
            return redirect(self.get_step_url(self.steps.first))
        spent = self.storage.get_step_data("coupon") is None
        if step == "confirm" and spent and self.request.session.get(SESSION_APPLICATION):
            return redirect("site:apply_code")  # the back button after "send the code"
        if step in self.get_form_list():
            missing = self._first_missing_before(step)
            if missing:
                return redirect(self.get_step_url(missing))
            self.storage.extra_data = {**self.storage.extra_data, "changing": "change" in self.request.GET}
        return super().get(*args, **kwargs)

    def post(self, *args, **kwargs):
        step = self.request.POST.get(f"{self.get_prefix(self.request)}-current_step") or kwargs.get("step")
        if step == "confirm" and self.storage.get_step_data("coupon") is None:
            # A second click on "send the code" after the first one finished: the wizard is spent.
            made = self.request.session.get(SESSION_APPLICATION)
            if made:
                return redirect("site:apply_code")
        if step in SEARCH_STEPS and self.request.POST.get("action") == "search":
            return self._render_search(step)
        if step == "coupon":
            wait = coupon_check_limited(self.request)
            if wait:
                return self._too_many(step, wait)
        return super().post(*args, **kwargs)

    def _too_many(self, step: str, wait: int) -> HttpResponse:
        """The coupon page again, with what was typed and a sentence instead of an answer: the
        same allowance as the API's coupon checks (60 a minute from one address)."""
        form = self.get_form(step, data=self.request.POST)
        form.is_valid()
        form.add_error(
            None,
            _(
                "短い時間に続けてご利用いただいたため、確認を一時的に止めています。"
                "しばらくしてからもう一度お試しください。"
            ),
        )
        response = self.render(form)
        response.status_code = 429
        response["Retry-After"] = str(wait)
        return response

    def _first_missing_before(self, step: str) -> str | None:
        for name in self.get_form_list():
            if name == step:
                return None
            if self.storage.get_step_data(name) is None:
                return name
        return None

    def _render_search(self, step: str) -> HttpResponse:
        """Show the matches for the typed name without judging the page (nothing chosen yet)."""
        prefix = self.get_form_prefix(step)
        self.storage.current_step = step
        form_class = self.get_form_list()[step]
        initial = {"query": self.request.POST.get(f"{prefix}-query", "")}
        return self.render(form_class(prefix=prefix, initial=initial, **self.get_form_kwargs(step)))

    def render_next_step(self, form, **kwargs):
        if self.storage.extra_data.get("changing"):
            for name in self.get_form_list():
                if self.storage.get_step_data(name) is None:
                    return self.render_goto_step(name)
            return self.render_goto_step("confirm")
        return super().render_next_step(form, **kwargs)

    def render_done(self, form, **kwargs):
        # Create on the POST itself (formtools would redirect to a GET .../done/ first).
        from claims.site.submit import _Keep

        try:
            return WizardView.render_done(self, form, **kwargs)
        except _Keep as kept:  # refused by the service: the pages stay, the field's page shows why
            return kept.response

    def get_form(self, step=None, data=None, files=None):
        form = super().get_form(step, data, files)
        step = step or self.steps.current
        pending = (self.storage.extra_data.get("pending_errors") or {}).get(step)
        if pending and data is not None and self.request.method == "GET":
            form.full_clean()
            for field, messages in pending.items():
                for message in messages:
                    form.add_error(None if field == "__all__" else field, message)
        return form

    def render(self, form=None, **kwargs):
        response = super().render(form, **kwargs)
        pending = self.storage.extra_data.get("pending_errors") or {}
        if self.request.method == "GET" and self.steps.current in pending:
            # shown once; the next POST of the page is judged afresh
            pending = {k: v for k, v in pending.items() if k != self.steps.current}
            self.storage.extra_data = {**self.storage.extra_data, "pending_errors": pending}
        return response

    # --- forms ----------------------------------------------------------------------------------
    def get_form_kwargs(self, step=None):
        if step == "result":
            return {"continues": _continues(self)}
        if step == "payout":
            return {"bank_only": _bank_only(self)}
        if step == "branch":
            data = self.storage.get_step_data("bank") or {}
            return {"bank_code": data.get("bank-code", "")}
        return {}

    def process_step(self, form):
        if self.steps.current == "coupon":
            self._check_coupon(form.cleaned_data)
        return super().process_step(form)

    def _check_coupon(self, cleaned: dict) -> None:
        result = rules.coupon_check(
            inquiry_number=cleaned["inquiry_number"], expires_on=cleaned["expires_on"], incident=self.incident
        )
        outcome = {
            "outcome": result.outcome,
            "message": {"ja": result.message.ja, "en": result.message.en},
            "groups": list(result.groups),
            "amount_yen": result.amount_yen,
            "bank_transfer_allowed": result.bank_transfer_allowed,
            "inquiry_number": result.inquiry_number,
            "expires_on": cleaned["expires_on"].isoformat(),
        }
        if outcome != self.storage.extra_data.get("outcome"):
            # Another coupon (or another answer): its answer page must be seen again.
            self.storage.data["step_data"].pop("result", None)
        self.storage.extra_data = {
            **self.storage.extra_data,
            "outcome": outcome,
            "key": self.storage.extra_data.get("key") or uuid.uuid4().hex,
        }

    def get_template_names(self):
        step = self.steps.current
        if step == "result":
            return [f"site/apply/result_{_outcome(self).get('outcome', 'not_found')}.html"]
        if step == "confirm":
            return ["site/apply/confirm.html"]
        return [f"site/apply/{step}.html"]

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form=form, **kwargs)
        steps = list(self.get_form_list())
        index = steps.index(self.steps.current)
        step = self.steps.current
        outcome = _outcome(self).get("outcome", "not_found")
        heading = RESULT_HEADINGS.get(outcome) if step == "result" else HEADINGS.get(step)
        if step == "payout" and _bank_only(self):
            heading = _("振込先の種類")
        context.update(
            heading=heading,
            incident=self.incident,
            outcome=_outcome(self),
            outcome_message=_message(_outcome(self)),
            bank_only=_bank_only(self),
            back_url=self.get_step_url(steps[index - 1]) if index > 0 else None,
            step_number=index + 1 if index > 1 else None,
            step_count=len(steps) if index > 1 else None,
        )
        if self.steps.current == "confirm":
            context.update(self._confirm_context())
        return context

    def _confirm_context(self) -> dict:
        answers = self._answers()
        method = (answers.get("payout") or {}).get("method")
        labels = dict(site_forms.METHOD_CHOICES)
        prefectures = dict(site_forms.PREFECTURES)
        rows = []
        if method == site_forms.PayoutForm.BANK:
            bank, branch, account = (
                answers.get("bank", {}),
                answers.get("branch", {}),
                answers.get("account", {}),
            )
            bank_form = site_forms.BankForm(initial={"code": bank.get("code")})
            branch_form = site_forms.BranchForm(
                initial={"code": branch.get("code")}, bank_code=bank.get("code", "")
            )
            types = dict(site_forms.ACCOUNT_TYPES)
            rows = [
                {
                    "label": _("金融機関"),
                    "value": bank_form.label_for(bank.get("code", "")),
                    "url": self.get_step_url("bank"),
                },
                {
                    "label": _("支店"),
                    "value": branch_form.label_for(branch.get("code", "")),
                    "url": self.get_step_url("branch"),
                },
                {
                    "label": _("口座の種類"),
                    "value": types.get(account.get("account_type")),
                    "url": self.get_step_url("account"),
                },
                {
                    "label": _("口座番号"),
                    "value": account.get("account_number"),
                    "url": self.get_step_url("account"),
                },
                {
                    "label": _("口座名義（カナ）"),
                    "value": account.get("holder_kana"),
                    "url": self.get_step_url("account"),
                },
            ]
        elif method == site_forms.PayoutForm.YUCHO:
            yucho = answers.get("yucho", {})
            url = self.get_step_url("yucho")
            rows = [
                {"label": _("記号"), "value": yucho.get("yucho_symbol"), "url": url},
                {"label": _("番号"), "value": yucho.get("yucho_number"), "url": url},
                {"label": _("口座名義（カナ）"), "value": yucho.get("holder_kana"), "url": url},
            ]
        contact = answers.get("contact") or {}
        phone = contact.get("phone") or ""
        return {
            "answers": answers,
            "payout_label": labels.get(str(method), ""),
            "prefecture_name": prefectures.get(str((answers.get("trip") or {}).get("prefecture_code")), ""),
            "bank_rows": rows,
            "phone_display": _national(phone) if phone else "",
        }

    def _answers(self) -> OrderedDict:
        answers: OrderedDict = OrderedDict()
        for name in self.get_form_list():
            if name in {"result", "confirm"}:
                continue
            answers[name] = self.get_cleaned_data_for_step(name) or {}
        return answers

    # --- the application ------------------------------------------------------------------------
    def done(self, form_list, form_dict=None, **kwargs):
        from claims.site.submit import application_from_wizard

        return application_from_wizard(self, form_dict or {})
