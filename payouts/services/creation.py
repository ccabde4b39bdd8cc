"""Payouts are created set-based once the clock passes the incident's final-balance instant.

Issue #10, 1: one payout per payable entitlement (the final balance, 2023-04-01 00:00 JST, see
DOMAIN.md "Final amount"), written by one ``INSERT ... SELECT`` with its status-change rows:

- method: the traveller's choice on a submitted application; else 1-2 by bank transfer (the
  notice: 「運営事務局より銀行振込にて返金」) and every other group by gift points;
- amount: the entitlement's ``final_balance_yen`` (never changed afterwards);
- destination: the application's contact, else the mobile number (SMS) or e-mail registered in
  the app (``coupons.Coupon``);
- a bank payout starts ``ready`` when an account is on record for the coupon (the application's,
  else the latest one taken by the call desk — both validated against the Zengin rules and the
  bank/branch tables when they were taken), else ``awaiting_bank_details``.

A flagged entitlement (要確認) holds its money: it gets no payout until a person resolves the flag.
Idempotent and safe to run twice at once: ``ON CONFLICT DO NOTHING`` against the unique
entitlement (and coupon) leaves the second run's row out, after waiting for the first to commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection, transaction

from claims.models import Incident
from config import clock

# The same pattern as the outbox's CHECK on SMS recipients (notifications.models.Message).
MOBILE_E164_RE = r"^\+81[6789]0[0-9]{8}$"

_CREATE_SQL = """
WITH due AS (
  SELECT e.id AS entitlement_id, e.incident_id, e.inquiry_number, e.category,
         e.final_balance_yen AS amount_yen,
         a.id AS application_id, a.payout_method AS chosen_method,
         a.phone AS a_phone, a.email AS a_email,
         c.app_phone, c.app_email
    FROM claims_entitlement e
    JOIN coupons_coupon c ON c.inquiry_number = e.inquiry_number
    LEFT JOIN claims_application a
      ON a.inquiry_number = e.inquiry_number AND a.incident_id = e.incident_id AND a.status = 'submitted'
   WHERE e.incident_id = %(incident)s
     AND e.status = 'payable'
     AND e.final_balance_yen > 0
     AND NOT e.needs_review
     AND NOT EXISTS (SELECT 1 FROM payouts_payout p WHERE p.entitlement_id = e.id)
), decided AS (
  SELECT due.*,
         CASE WHEN chosen_method IN ('points', 'bank') THEN chosen_method
              WHEN category = '1-2' THEN 'bank'
              ELSE 'points' END AS method
    FROM due
), placed AS (
  SELECT d.*,
         CASE WHEN d.method = 'bank' THEN (
           SELECT b.id FROM claims_bankaccount b
            WHERE b.inquiry_number = d.inquiry_number
              AND (b.application_id IS NULL OR b.application_id = d.application_id)
            ORDER BY (b.application_id IS NOT DISTINCT FROM d.application_id) DESC,
                     b.created_at DESC, b.id DESC
            LIMIT 1) END AS bank_account_id,
         CASE WHEN d.application_id IS NOT NULL AND d.a_phone <> '' THEN 'sms'
              WHEN d.application_id IS NOT NULL AND d.a_email <> '' THEN 'email'
              WHEN d.app_phone ~ %(mobile)s THEN 'sms'
              WHEN d.app_email <> '' THEN 'email'
              ELSE '' END AS contact_channel,
         CASE WHEN d.application_id IS NOT NULL AND d.a_phone <> '' THEN d.a_phone
              WHEN d.application_id IS NOT NULL AND d.a_email <> '' THEN d.a_email
              WHEN d.app_phone ~ %(mobile)s THEN d.app_phone
              WHEN d.app_email <> '' THEN d.app_email
              ELSE '' END AS contact
    FROM decided d
), created AS (
  INSERT INTO payouts_payout
    (entitlement_id, incident_id, inquiry_number, method, amount_yen, status, application_id,
     bank_account_id, contact_channel, contact, brand, created_at, updated_at)
  SELECT entitlement_id, incident_id, inquiry_number, method, amount_yen,
         CASE WHEN method = 'points' THEN 'created'
              WHEN bank_account_id IS NOT NULL THEN 'ready'
              ELSE 'awaiting_bank_details' END,
         application_id, bank_account_id, contact_channel, contact, '', %(now)s, %(now)s
    FROM placed
   ORDER BY entitlement_id
  ON CONFLICT DO NOTHING
  RETURNING id, status
), recorded AS (
  INSERT INTO payouts_payoutstatuschange (payout_id, from_status, to_status, actor_id, note, at)
  SELECT id, '', status, NULL, '支払の作成（最終残高の確定後）', %(now)s FROM created
  RETURNING to_status
)
SELECT to_status, count(*) FROM recorded GROUP BY to_status
"""


# What arrived after a payout was created: a submitted application gives a points payout with no
# application its contact; a bank account on record (taken by the call desk, or given again after
# a returned transfer) makes a bank payout waiting for details ready, with its history row.
_ATTACH_APPLICATIONS_SQL = """
UPDATE payouts_payout p
   SET application_id = a.id,
       contact_channel = CASE WHEN a.phone <> '' THEN 'sms' ELSE 'email' END,
       contact = CASE WHEN a.phone <> '' THEN a.phone ELSE a.email END,
       updated_at = %(now)s
  FROM claims_application a
 WHERE p.incident_id = %(incident)s
   AND p.method = 'points' AND p.status = 'created' AND p.application_id IS NULL
   AND a.inquiry_number = p.inquiry_number AND a.incident_id = p.incident_id
   AND a.status = 'submitted' AND a.payout_method = 'points'
"""

_ACCOUNTS_SQL = """
WITH found AS (
  SELECT DISTINCT ON (p.id) p.id AS payout_id, b.id AS account_id
    FROM payouts_payout p
    JOIN claims_bankaccount b ON b.inquiry_number = p.inquiry_number
   WHERE p.incident_id = %(incident)s AND p.status = 'awaiting_bank_details'
     AND b.id IS DISTINCT FROM p.bank_account_id
     AND (p.bank_account_id IS NULL
          OR b.created_at > (SELECT o.created_at FROM claims_bankaccount o WHERE o.id = p.bank_account_id))
   ORDER BY p.id, b.created_at DESC, b.id DESC
), moved AS (
  UPDATE payouts_payout p
     SET bank_account_id = found.account_id, status = 'ready', updated_at = %(now)s
    FROM found
   WHERE p.id = found.payout_id AND p.status = 'awaiting_bank_details'
  RETURNING p.id
)
INSERT INTO payouts_payoutstatuschange (payout_id, from_status, to_status, actor_id, note, at)
SELECT id, 'awaiting_bank_details', 'ready', NULL, '振込先口座の登録', %(now)s FROM moved
"""


@dataclass
class PayoutsCreated:
    """What one pass created, by starting status (empty before the final instant), and what it
    completed of earlier payouts (contacts from later applications, accounts that arrived)."""

    due: bool
    by_status: dict[str, int] = field(default_factory=dict)
    contacts_attached: int = 0
    accounts_attached: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def final_instant_passed(incident: Incident, now: dt.datetime | None = None) -> bool:
    return (now or clock.now()) >= incident.final_balance_at


def payouts_create(*, incident: Incident) -> PayoutsCreated:
    """Create the payouts the clock has made due (see the module's docstring). Idempotent."""
    now = clock.now()
    if not final_instant_passed(incident, now):
        return PayoutsCreated(due=False)
    params: dict[str, int | str | dt.datetime] = {
        "incident": incident.pk,
        "now": now,
        "mobile": MOBILE_E164_RE,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CREATE_SQL, params)
        created = PayoutsCreated(due=True, by_status={status: count for status, count in cursor.fetchall()})
        cursor.execute(_ATTACH_APPLICATIONS_SQL, params)
        created.contacts_attached = cursor.rowcount
        cursor.execute(_ACCOUNTS_SQL, params)
        created.accounts_attached = cursor.rowcount
    return created
