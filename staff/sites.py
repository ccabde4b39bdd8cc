"""The admin site every staff page lives on: password, then a second factor, then the page."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from staff.sessions import EXPIRED_FLAG, is_verified


def safe_next(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def second_factor_url(next_url: str) -> str:
    from urllib.parse import urlencode

    return reverse("admin:staff_second_factor") + "?" + urlencode({REDIRECT_FIELD_NAME: next_url})


class StaffAdminSite(admin.AdminSite):
    site_header = "region PAY 障害補償 管理"
    site_title = "region PAY 障害補償"
    index_title = "運営事務局・コールセンター"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and is_verified(user))

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        next_url = safe_next(request, reverse("admin:index", current_app=self.name))
        if getattr(request, "staff_pending_user", None) is not None:
            # Password given earlier in this session: the second factor is what is missing.
            return HttpResponseRedirect(second_factor_url(next_url))
        context = {"session_expired": request.session.pop(EXPIRED_FLAG, False), **(extra_context or {})}
        response = super().login(request, context)
        if request.method == "POST" and request.user.is_authenticated and response.status_code == 302:
            return HttpResponseRedirect(second_factor_url(next_url))
        return response

    def get_urls(self):
        from staff import views

        return [
            path("second-factor/", views.second_factor, name="staff_second_factor"),
            *super().get_urls(),
        ]
