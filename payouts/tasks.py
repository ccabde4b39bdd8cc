"""Celery tasks of the payouts room: thin, idempotent."""

from __future__ import annotations

import logging

from celery import shared_task

from claims.models import Incident
from config.runs import RETRYABLE
from payouts.services.batches import transfers_settle
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
