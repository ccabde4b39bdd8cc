"""Celery tasks of the payouts room: thin, idempotent, by id (DESIGN.md habit 9)."""

from __future__ import annotations

import logging
import random

from celery import Task, shared_task
from django.conf import settings

from claims.models import Incident
from config.runs import RETRYABLE
from payouts.gateway import TransientVendorError
from payouts.services.batches import transfers_settle
from payouts.services.orders import order_place, orders_due
from payouts.services.reconciliation import reconcile, reconciliation_record

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=RETRYABLE, retry_backoff=30, max_retries=3)
def payouts_nightly_task() -> None:
    """Nightly (beat): the transfers whose date has come are marked transferred, then every
    incident is reconciled and the result kept. Run twice, it records a second identical report."""
    settled = transfers_settle()
    for incident in Incident.objects.all():
        result = reconcile(incident=incident)
        report = reconciliation_record(incident=incident, result=result)
        # Counts only: the exceptions (by inquiry number) are in the report, not in the log.
        log = logger.info if result.adds_up else logger.error
        log(
            "reconciliation %s of incident %s: %s coupons, adds up: %s, exceptions: %s, settled %s",
            report.pk,
            incident.code,
            result.coupons,
            result.adds_up,
            len(result.exceptions),
            settled,
        )


@shared_task(bind=True, acks_late=True, ignore_result=True)
def order_place_task(self: Task, payout_id: int) -> str:
    """Send a chosen brand's order to the vendor; a transient failure is tried again after
    base × 2^n seconds (with jitter, capped). The external id makes every try the same order."""
    try:
        return order_place(payout_id=payout_id).status
    except TransientVendorError as exc:
        retries = self.request.retries
        if retries >= settings.GIFT_VENDOR_MAX_RETRIES:
            raise  # the order stays queued: beat's sweep tries it again later
        delay = min(
            settings.GIFT_VENDOR_RETRY_BASE_SECONDS * 2**retries, settings.GIFT_VENDOR_RETRY_MAX_SECONDS
        )
        raise self.retry(exc=exc, countdown=delay * random.uniform(0.5, 1.0), max_retries=None) from exc  # noqa: S311


@shared_task(ignore_result=True)
def orders_sweep_task() -> int:
    """Beat: a queued order no worker has touched for a while is sent again (same external id)."""
    ids = orders_due()
    for payout_id in ids:
        order_place_task.delay(payout_id)
    return len(ids)


@shared_task(ignore_result=True)
def run_payouts_task() -> str:
    """Beat: what ``manage.py run_payouts`` does (idempotent)."""
    from payouts.services.runs import payouts_run

    return payouts_run().summary()
