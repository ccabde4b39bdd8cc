"""The travellers' pages. They parse input and call the same services as the API
(``claims.services.applications``); no rule is decided here."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import ngettext

from claims.services import applications as rules
from claims.site import hours
from claims.site.forms import CodeForm, StatusLookupForm
from claims.site.limits import status_lookup_failed, status_lookup_limited
from claims.site.submit import SESSION_APPLICATION
from claims.site.window import current_incident, window_state
from config import clock


def _incident_or_404():
    incident = current_incident()
    if incident is None:
        raise Http404
    return incident


def landing(request: HttpRequest) -> HttpResponse:
    incident = _incident_or_404()
    now = clock.now()
    return render(
        request,
        "site/landing.html",
        {
            "incident": incident,
            "window": window_state(incident, now),
            "call_center": hours.call_center_status(now),
        },
    )


# --- after the wizard: the code, the confirmation ------------------------------------------------

SESSION_SUBMITTED = "site_submitted"


def _made(request: HttpRequest) -> dict | None:
    return request.session.get(SESSION_APPLICATION)


def apply_code(request: HttpRequest) -> HttpResponse:
    """The six-digit code sent to the contact; right → submitted, wrong → tries left, late or the
    fifth wrong one → the application is void and must be made again."""
    made = _made(request)
    if made is None:
        return redirect("site:apply")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            application = rules.application_verify(application_id=made["id"], code=form.cleaned_data["code"])
        except rules.WrongCode as exc:
            form.add_error(
                "code",
                ngettext(
                    "確認コードが違います。あと %(n)d 回入力できます。",
                    "確認コードが違います。あと %(n)d 回入力できます。",
                    exc.attempts_left,
                )
                % {"n": exc.attempts_left},
            )
        except rules.ApplicationVoid:
            return _void(request)
        except rules.ApplicationNotFound:
            request.session.pop(SESSION_APPLICATION, None)
            return redirect("site:apply")
        except rules.ApplicationInvalid as exc:
            for message in exc.errors.get("code", []):
                form.add_error("code", str(message))
        except rules.NotApplicable:
            return render(request, "site/apply/code_already_applied.html", {})
        else:
            request.session[SESSION_SUBMITTED] = {
                "reference": rules.reference_number_display(application.reference_number or ""),
                "payout_method": application.payout_method,
                "channel": made.get("channel"),
                "sent_to": made.get("sent_to"),
            }
            request.session.pop(SESSION_APPLICATION, None)
            return redirect("site:apply_complete")
    elif request.method == "POST" and request.session.get(SESSION_SUBMITTED):
        return redirect("site:apply_complete")
    return render(
        request, "site/apply/code.html", {"form": form, "made": made, "resent": request.GET.get("resent")}
    )


def apply_code_resend(request: HttpRequest) -> HttpResponse:
    made = _made(request)
    if request.method != "POST" or made is None:
        return redirect("site:apply_code")
    try:
        rules.application_resend_code(application_id=made["id"])
    except rules.ResendTooSoon as exc:
        form = CodeForm()
        return render(
            request,
            "site/apply/code.html",
            {"form": form, "made": made, "too_soon": exc.retry_after_seconds},
            status=429,
        )
    except rules.ApplicationVoid:
        return _void(request)
    except rules.ApplicationNotFound:
        return redirect("site:apply")
    return redirect(reverse("site:apply_code") + "?resent=1")


def _void(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_APPLICATION, None)
    return render(request, "site/apply/code_void.html", {}, status=410)


def apply_complete(request: HttpRequest) -> HttpResponse:
    done = request.session.get(SESSION_SUBMITTED)
    if done is None:
        return redirect("site:landing")
    incident = current_incident()
    return render(request, "site/apply/complete.html", {"done": done, "incident": incident})


# --- status lookup -------------------------------------------------------------------------------


def status_lookup(request: HttpRequest) -> HttpResponse:
    """Reference number + the contact given → the state in plain words. Every failure is the same
    sentence (nothing tells an unknown reference from a wrong contact); limits as the API's."""
    form = StatusLookupForm(request.POST or None)
    answer = None
    not_found = False
    if request.method == "POST" and form.is_valid():
        limited = status_lookup_limited(request, form.cleaned_data["reference_number"])
        if limited:
            return render(request, "site/status.html", {"form": form, "limited": limited}, status=429)
        answer = rules.application_status_lookup(
            reference_number=form.cleaned_data["reference_number"], contact=form.cleaned_data["contact"]
        )
        if answer is None:
            status_lookup_failed(request, form.cleaned_data["reference_number"])
            not_found = True
    return render(request, "site/status.html", {"form": form, "answer": answer, "not_found": not_found})
