"""The second sign-in step: enrol an authenticator app (first login) or give a code from it."""

from __future__ import annotations

import base64
import unicodedata

import qrcode
import qrcode.image.svg
from django.contrib.admin import site
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff.sites import safe_next

ENROL_DEVICE_NAME = "認証アプリ"


def _token(request: HttpRequest) -> str:
    # Full-width digits and spaces typed from a Japanese IME are accepted: ６５４ ３２１ → 654321.
    return "".join(unicodedata.normalize("NFKC", request.POST.get("token", "")).split())


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


@never_cache
@csrf_protect
def second_factor(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, reverse("admin:index"))
    user = getattr(request, "staff_pending_user", None)
    if user is None:
        # Either already verified (go on) or not signed in at all (the password comes first).
        if request.user.is_authenticated:
            return HttpResponseRedirect(next_url)
        return HttpResponseRedirect(reverse("admin:login") + "?" + request.GET.urlencode())

    enrolling = not user_has_device(user, confirmed=True)
    device = None
    if enrolling:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=ENROL_DEVICE_NAME, confirmed=False)

    def verified(device) -> HttpResponse:
        # django_otp.login binds the device to request.user, which the middleware left anonymous.
        request.user = user
        otp_login(request, device)
        return HttpResponseRedirect(next_url)

    error = ""
    if request.method == "POST":
        token = _token(request)
        if not token:
            error = "確認コードを入力してください。"
        elif enrolling and device is not None:
            if device.verify_token(token):
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                return verified(device)
            error = "確認コードが正しくありません。認証アプリに今表示されている6桁の数字を入力してください。"
        else:
            matched = match_token(user, token)
            if matched is not None:
                return verified(matched)
            error = "確認コードが正しくありません。認証アプリの6桁の数字か、予備コードを入力してください。"

    context = {
        **site.each_context(request),
        "title": "認証アプリの登録" if enrolling else "確認コードの入力",
        "enrolling": enrolling,
        "next": next_url,
        "error": error,
        "username": user.get_username(),
    }
    if enrolling and device is not None:
        secret = base64.b32encode(device.bin_key).decode().rstrip("=")
        context["qr_svg"] = _qr_svg(device.config_url)
        context["secret_groups"] = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    status = 200 if not error else 400
    return render(request, "staff/second_factor.html", context, status=status)
