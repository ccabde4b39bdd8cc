"""The travellers' JSON API (public-api.md §1-§4): the same journey as the pages, through the same
services. Views parse input, apply the contract's limits and map the services' outcomes to status
codes; everything else lives in ``claims.services.applications``."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import translation
from django_ratelimit.core import get_usage
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.services import applications as svc
from claims.services.applications import Text
from claims.site.limits import COUPON_CHECKS_PER_ADDRESS, GROUP_COUPON_CHECKS

# The contract's limits (public-api.md, Conventions). Real seconds, counted in the cache on REDIS_URL.
APPLICATIONS_PER_ADDRESS = "30/h"
LOOKUPS_PER_ADDRESS = "30/h"
LOOKUP_FAILURES_PER_REFERENCE = "10/h"

TOO_MANY = Text(
    "短い時間に続けてご利用いただいたため、受付を一時的に止めています。しばらくしてからもう一度お試しください。",
    "Too many requests in a short time. Please try again a little later.",
)
NOT_FOUND = Text("お探しの申請は見つかりません。", "No such application.")
LOOKUP_FAILED = Text(
    "受付番号と連絡先に一致する申請が見つかりませんでした。入力した内容をご確認ください。",
    "No application matches this reference number and contact. Please check what you entered.",
)


def _lang() -> str:
    return "en" if (translation.get_language() or "ja").startswith("en") else "ja"


def _errors(errors: dict[str, list[Text | str]]) -> dict[str, list[str]]:
    return {key: [str(message) for message in messages] for key, messages in errors.items()}


def _client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR: behind a proxy, the proxy must set it (gunicorn's --forwarded-allow-ips), never
    # a header a client can write.
    return str(request.META.get("REMOTE_ADDR", ""))


def _limited(
    request: HttpRequest, *, group: str, value: str, rate: str, increment: bool = True
) -> int | None:
    """Seconds until the window ends when the limit is reached, else None."""
    usage = get_usage(
        request, group=group, key=lambda _group, _request: value, rate=rate, increment=increment
    )
    if usage is None:
        return None
    count, limit = usage["count"], usage["limit"]
    over = count > limit if increment else count >= limit
    return max(1, int(usage["time_left"])) if over else None


def _too_many(retry_after: int) -> Response:
    response = Response({"message": str(TOO_MANY)}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    response["Retry-After"] = str(retry_after)
    return response


class PublicAPIView(APIView):
    # Travellers and partners have no account here: no session, so no CSRF; JSON only.
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]


CouponCheckRequest = inline_serializer(
    "CouponCheckRequest", {"inquiry_number": serializers.CharField(), "expires_on": serializers.CharField()}
)
CouponCheckAnswer = inline_serializer(
    "CouponCheckAnswer",
    {
        "outcome": serializers.ChoiceField(
            choices=[
                "apply",
                "no_application_needed",
                "call_center",
                "already_applied",
                "not_covered",
                "not_found",
                "window_not_open",
                "window_closed",
            ]
        ),
        "message": serializers.CharField(),
        "groups": serializers.ListField(child=serializers.CharField()),
        "amount_yen": serializers.IntegerField(allow_null=True),
    },
)
ErrorAnswer = inline_serializer(
    "ErrorAnswer",
    {"errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)
MessageAnswer = inline_serializer("MessageAnswer", {"message": serializers.CharField()})


class CouponCheckView(PublicAPIView):
    @extend_schema(
        summary="クーポンの確認",
        request=CouponCheckRequest,
        responses={200: CouponCheckAnswer, 400: ErrorAnswer, 429: MessageAnswer},
    )
    def post(self, request: Request) -> Response:
        wait = _limited(
            request, group=GROUP_COUPON_CHECKS, value=_client_address(request), rate=COUPON_CHECKS_PER_ADDRESS
        )
        if wait:
            return _too_many(wait)
        data = request.data if isinstance(request.data, dict) else {}
        try:
            check = svc.coupon_check(
                inquiry_number=data.get("inquiry_number"), expires_on=data.get("expires_on")
            )
        except svc.ApplicationInvalid as exc:
            return Response({"errors": _errors(exc.errors)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {
                "outcome": check.outcome,
                "message": str(check.message),
                "groups": check.groups,
                "amount_yen": check.amount_yen,
            }
        )


ApplicationAnswer = inline_serializer(
    "ApplicationAnswer",
    {
        "application_id": serializers.CharField(),
        "status": serializers.CharField(),
        "code_sent_to": serializers.CharField(),
        "message": serializers.CharField(),
    },
)
NotApplicableAnswer = inline_serializer(
    "NotApplicableAnswer", {"outcome": serializers.CharField(), "message": serializers.CharField()}
)

CODE_SENT = svc.CODE_SENT


class ApplicationsView(PublicAPIView):
    @extend_schema(
        summary="申請",
        request=inline_serializer("ApplicationRequest", {"inquiry_number": serializers.CharField()}),
        responses={201: ApplicationAnswer, 400: ErrorAnswer, 409: MessageAnswer, 422: NotApplicableAnswer},
    )
    def post(self, request: Request) -> Response:
        wait = _limited(
            request, group="api.applications", value=_client_address(request), rate=APPLICATIONS_PER_ADDRESS
        )
        if wait:
            return _too_many(wait)
        try:
            created = svc.application_create(
                data=request.data,
                idempotency_key=request.headers.get("Idempotency-Key"),
                language=_lang(),
            )
        except svc.ApplicationInvalid as exc:
            return Response({"errors": _errors(exc.errors)}, status=status.HTTP_400_BAD_REQUEST)
        except svc.IdempotencyConflict:
            message = Text(
                "この Idempotency-Key は別の内容の申請ですでに使われています。新しいキーで送ってください。",
                "This Idempotency-Key was already used for another request. Send with a new key.",
            )
            return Response({"message": str(message)}, status=status.HTTP_409_CONFLICT)
        except svc.NotApplicable as exc:
            return Response(
                {"outcome": exc.outcome, "message": str(exc.message)},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return Response(created.response, status=status.HTTP_201_CREATED)


VOID = Text(
    "この申請は無効になりました（確認コードの誤入力が5回、または30分を過ぎました）。最初から申請し直してください。",
    "This application is void (five wrong codes, or more than 30 minutes passed). Please start again.",
)
ALREADY = Text(
    "このクーポンはすでに別の申請で受け付けています。",
    "An application for this coupon has already been received.",
)


def _not_found() -> Response:
    return Response({"message": str(NOT_FOUND)}, status=status.HTTP_404_NOT_FOUND)


class VerificationView(PublicAPIView):
    @extend_schema(
        summary="確認コードの入力",
        request=inline_serializer("VerificationRequest", {"code": serializers.CharField()}),
        responses={
            200: inline_serializer(
                "VerificationAnswer",
                {
                    "status": serializers.CharField(),
                    "reference_number": serializers.CharField(),
                    "message": serializers.CharField(),
                },
            ),
            400: ErrorAnswer,
            404: MessageAnswer,
            409: NotApplicableAnswer,
            410: MessageAnswer,
        },
    )
    def post(self, request: Request, application_id: str) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        try:
            application = svc.application_verify(application_id=application_id, code=data.get("code"))
        except svc.ApplicationNotFound:
            return _not_found()
        except svc.ApplicationInvalid as exc:
            return Response({"errors": _errors(exc.errors)}, status=status.HTTP_400_BAD_REQUEST)
        except svc.WrongCode as exc:
            wrong = Text(
                f"確認コードが違います。あと{exc.attempts_left}回入力できます。",
                f"That code is not right. You can try {exc.attempts_left} more time(s).",
            )
            return Response(
                {"errors": {"code": [str(wrong)]}, "attempts_left": exc.attempts_left},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except svc.ApplicationVoid:
            return Response({"message": str(VOID)}, status=status.HTTP_410_GONE)
        except svc.NotApplicable as exc:
            return Response(
                {"outcome": exc.outcome, "message": str(ALREADY)}, status=status.HTTP_409_CONFLICT
            )
        reference = svc.reference_number_display(application.reference_number or "")
        submitted = Text(
            f"申請を受け付けました。受付番号は {reference} です。確認のメッセージもお送りしました。",
            f"Your application has been received. Your reference number is {reference}; "
            "we have also sent it to you.",
        )
        return Response(
            {"status": application.status, "reference_number": reference, "message": str(submitted)}
        )


class ResendView(PublicAPIView):
    @extend_schema(
        summary="確認コードの再送",
        request=None,
        responses={202: ApplicationAnswer, 404: MessageAnswer, 410: MessageAnswer, 429: MessageAnswer},
    )
    def post(self, request: Request, application_id: str) -> Response:
        try:
            application = svc.application_resend_code(application_id=application_id)
        except svc.ApplicationNotFound:
            return _not_found()
        except svc.ApplicationVoid:
            return Response({"message": str(VOID)}, status=status.HTTP_410_GONE)
        except svc.NotApplicable as exc:
            return Response(
                {"outcome": exc.outcome, "message": str(exc.message)}, status=status.HTTP_409_CONFLICT
            )
        except svc.ResendTooSoon as exc:
            too_soon = Text(
                f"確認コードの再送は1分に1回までです。{exc.retry_after_seconds}秒後にもう一度お試しください。",
                f"A new code can be sent once a minute. Try again in {exc.retry_after_seconds} seconds.",
            )
            response = Response({"message": str(too_soon)}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            response["Retry-After"] = str(exc.retry_after_seconds)
            return response
        return Response(
            {
                "application_id": str(application.public_id),
                "status": application.status,
                "code_sent_to": svc.mask_contact(phone=str(application.phone or ""), email=application.email),
                "message": str(CODE_SENT),
            },
            status=status.HTTP_202_ACCEPTED,
        )


def _lookup_failed() -> HttpResponse:
    # One body per language, built the same way every time: byte-identical whatever failed.
    body = json.dumps({"message": str(LOOKUP_FAILED)}, ensure_ascii=False).encode()
    return HttpResponse(body, status=404, content_type="application/json")


class StatusLookupView(PublicAPIView):
    @extend_schema(
        summary="申請状況の照会",
        request=inline_serializer(
            "StatusLookupRequest",
            {"reference_number": serializers.CharField(), "contact": serializers.CharField()},
        ),
        responses={
            200: inline_serializer(
                "StatusLookupAnswer",
                {
                    "status": serializers.CharField(),
                    "label": serializers.CharField(),
                    "next": inline_serializer(
                        "StatusNext",
                        {"date": serializers.DateField(allow_null=True), "what": serializers.CharField()},
                    ),
                },
            ),
            404: MessageAnswer,
            429: MessageAnswer,
        },
    )
    def post(self, request: Request) -> Any:
        wait = _limited(
            request, group="api.status-lookups", value=_client_address(request), rate=LOOKUPS_PER_ADDRESS
        )
        if wait:
            return _too_many(wait)
        data = request.data if isinstance(request.data, dict) else {}
        raw_reference = data.get("reference_number")
        reference_key = svc.normalize_reference(raw_reference) or str(raw_reference)[:64]
        wait = _limited(
            request,
            group="api.status-lookups.reference",
            value=reference_key,
            rate=LOOKUP_FAILURES_PER_REFERENCE,
            increment=False,
        )
        if wait:
            return _too_many(wait)
        answer = svc.application_status_lookup(reference_number=raw_reference, contact=data.get("contact"))
        if answer is None:
            _limited(
                request,
                group="api.status-lookups.reference",
                value=reference_key,
                rate=LOOKUP_FAILURES_PER_REFERENCE,
            )
            return _lookup_failed()
        return Response(
            {
                "status": answer.status,
                "label": str(answer.label),
                "next": {
                    "date": answer.next_date.isoformat() if answer.next_date else None,
                    "what": str(answer.next_what),
                },
            }
        )


urlpatterns = [
    path("coupon-checks", CouponCheckView.as_view(), name="api-coupon-checks"),
    path("applications", ApplicationsView.as_view(), name="api-applications"),
    path(
        "applications/<str:application_id>/verification",
        VerificationView.as_view(),
        name="api-application-verification",
    ),
    path(
        "applications/<str:application_id>/verification/resend",
        ResendView.as_view(),
        name="api-application-resend",
    ),
    path("status-lookups", StatusLookupView.as_view(), name="api-status-lookups"),
]
