"""The receipt API (public-api.md §6) and the gift vendor's webhook: views parse input and map the
services' outcomes to status codes; the rules live in ``payouts.services``."""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.services.applications import Text
from payouts import signing
from payouts.services import receipts
from payouts.services.orders import order_event

logger = logging.getLogger(__name__)

UNKNOWN = Text(
    "このURLは無効です。届いたメッセージのURLをもう一度お確かめください。",
    "This link is not valid. Please check the link in the message you received.",
)
OPEN = Text(
    "受け取るポイントのブランドを選んでください。",
    "Choose the brand in which to receive your points.",
)
CHOSEN = Text(
    "ブランドの選択を受け付けました。ポイントは準備ができ次第、お送りします。",
    "Your choice has been received. We will send your points as soon as they are ready.",
)
EXPIRED = Text(
    "受取期限を過ぎたため、このURLではお受け取りいただけません。コールセンターにお問い合わせください。",
    "The deadline to receive these points has passed. Please contact the call center.",
)
OTHER_BRAND = Text(
    "すでに別のブランドを選択済みです。選択は変更できません。",
    "Another brand has already been chosen; the choice cannot be changed.",
)
INVALID_BRAND = Text("ブランドを一覧から選んでください。", "Choose one of the listed brands.")

ReceiptAnswer = inline_serializer(
    "ReceiptAnswer",
    {
        "amount_yen": serializers.IntegerField(),
        "deadline": serializers.DateField(),
        "status": serializers.ChoiceField(choices=["open", "chosen", "expired"]),
        "brands": serializers.ListField(child=serializers.CharField()),
        "choice": serializers.CharField(allow_null=True),
        "message": serializers.CharField(),
    },
)
ChoiceAnswer = inline_serializer(
    "ReceiptChoiceAnswer",
    {
        "status": serializers.CharField(),
        "choice": serializers.CharField(),
        "order": inline_serializer("ReceiptOrder", {"status": serializers.CharField()}),
        "message": serializers.CharField(),
    },
)
MessageAnswer = inline_serializer("ReceiptMessage", {"message": serializers.CharField()})


def _unknown() -> HttpResponse:
    # Built the same way every time: byte-identical for every token that is not a live link.
    body = json.dumps({"message": str(UNKNOWN)}, ensure_ascii=False).encode()
    return HttpResponse(body, status=404, content_type="application/json")


class ReceiptView(APIView):
    # Travellers have no account: the token is the credential. No session, so no CSRF; JSON only.
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    @extend_schema(summary="受取URLの内容", responses={200: ReceiptAnswer, 404: MessageAnswer})
    def get(self, request: Request, token: str) -> HttpResponse:
        receipt = receipts.receipt_get(token=token)
        if receipt is None:
            return _unknown()
        message = {"open": OPEN, "chosen": CHOSEN, "expired": EXPIRED}[receipt.status]
        return Response({**receipt.as_api(), "message": str(message)})

    @extend_schema(
        summary="ブランドの選択",
        request=inline_serializer(
            "ReceiptChoice", {"brand": serializers.ChoiceField(choices=receipts.BRANDS)}
        ),
        responses={
            201: ChoiceAnswer,
            400: MessageAnswer,
            404: MessageAnswer,
            409: MessageAnswer,
            410: MessageAnswer,
        },
    )
    def post(self, request: Request, token: str) -> HttpResponse:
        data = request.data if isinstance(request.data, dict) else {}
        try:
            receipt = receipts.receipt_choose(token=token, brand=data.get("brand"))
        except receipts.ReceiptRefused as refused:
            if refused.code == "other_brand":
                return Response({"message": str(OTHER_BRAND)}, status=status.HTTP_409_CONFLICT)
            if refused.code == "expired":
                return Response({"message": str(EXPIRED)}, status=status.HTTP_410_GONE)
            return Response({"errors": {"brand": [str(INVALID_BRAND)]}}, status=status.HTTP_400_BAD_REQUEST)
        if receipt is None:
            return _unknown()
        return Response({**receipt.as_chosen(), "message": str(CHOSEN)}, status=status.HTTP_201_CREATED)


# Webhooks older (or newer) than this, by the machine's clock, are refused as replays.
WEBHOOK_TOLERANCE_SECONDS = 300


class VendorWebhookView(APIView):
    """The gift vendor's callback: ``{"event": "delivered"|"redeemed", "external_id", "id"}``,
    signed with HMAC-SHA256 (``payouts.signing``) over the timestamp and the raw body."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    @extend_schema(exclude=True)
    def post(self, request: Request) -> HttpResponse:
        raw = request.body
        stamp = request.headers.get(signing.TIMESTAMP_HEADER, "")
        signature = request.headers.get(signing.SIGNATURE_HEADER, "")
        try:
            fresh = abs(time.time() - int(stamp)) <= WEBHOOK_TOLERANCE_SECONDS
        except ValueError:
            fresh = False
        if not (fresh and signing.verify(settings.GIFT_VENDOR_WEBHOOK_SECRET, stamp, raw, signature)):
            return HttpResponse(status=401)
        try:
            event = json.loads(raw)
            kind, external_id, vendor_id = str(event["event"]), str(event["external_id"]), str(event["id"])
        except (ValueError, KeyError, TypeError):
            return HttpResponse(status=400)
        if kind not in ("delivered", "redeemed"):
            return HttpResponse(status=204)  # events we do not act on are acknowledged
        if not order_event(external_id=external_id, event=kind, vendor_order_id=vendor_id):
            return HttpResponse(status=404)
        return HttpResponse(status=204)


urlpatterns = [
    path("receipts/<str:token>", ReceiptView.as_view(), name="api-receipts"),
    path("vendor/webhooks", VendorWebhookView.as_view(), name="api-vendor-webhooks"),
]
