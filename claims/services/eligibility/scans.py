"""The rules' SQL: the two scans of the ledger, and what 1-1 and 1-2 select from them.

Every statement reads only the coupons of the incident's campaign (``%(prefectures)s``, DOMAIN.md
"Scope"); ``{scope}`` restricts a scan further to the coupons an incremental run re-decides.
"""

from __future__ import annotations

IN_SCOPE = "c.prefecture_code = ANY(%(prefectures)s::text[])"

# Balances at the 1-2, 1-1 and final instants, per coupon: one GROUP BY over the ledger. (The
# campaign's scope is applied where the balances are used, through the coupon: joining it here
# would slow the one scan that dominates a full run.)
SCAN_BALANCES = """
CREATE TEMP TABLE elig_balance ON COMMIT DROP AS
SELECT m.inquiry_number,
       coalesce(sum(m.amount_yen) FILTER (WHERE m.occurred_at < %(c12)s), 0) AS at_1_2,
       coalesce(sum(m.amount_yen) FILTER (WHERE m.occurred_at < %(c11)s), 0) AS at_1_1,
       coalesce(sum(m.amount_yen) FILTER (WHERE m.occurred_at < %(final)s), 0) AS at_final
FROM coupons_couponmovement m
WHERE {scope}
GROUP BY m.inquiry_number
"""

# The outage's payments, every cancel and every reinstatement (the echoes of our instructions), of
# the campaign's coupons only.
SCAN_EVENTS = f"""
CREATE TEMP TABLE elig_event ON COMMIT DROP AS
SELECT m.movement_id, m.inquiry_number, m.kind, m.amount_yen, m.occurred_at, m.store_id, m.request_id,
       (m.kind = 'payment' AND m.occurred_at >= %(start)s AND m.occurred_at < %(end)s) AS in_outage
FROM coupons_couponmovement m
WHERE ((m.kind = 'payment' AND m.occurred_at >= %(start)s AND m.occurred_at < %(end)s)
       OR m.kind IN ('cancel', 'reinstatement'))
  AND m.inquiry_number IN (SELECT c.inquiry_number FROM coupons_coupon c WHERE {IN_SCOPE})
  AND {{scope}}
"""

# A cancel reverses the earliest payment of its coupon, request id and amount, wherever in time it
# lies: the payments outside the window that a cancel of an outage payment could reach first
# (through the ledger's coupon index; only for cancels that share an outage payment's keys).
EVENTS_EARLIER_PAYMENTS = """
INSERT INTO elig_event
SELECT m.movement_id, m.inquiry_number, m.kind, m.amount_yen, m.occurred_at, m.store_id, m.request_id, false
FROM coupons_couponmovement m
JOIN (
  SELECT DISTINCT c.inquiry_number, c.request_id, c.amount_yen
  FROM elig_event c JOIN elig_event p
    ON p.inquiry_number = c.inquiry_number AND p.request_id = c.request_id AND p.amount_yen = -c.amount_yen
  WHERE c.kind = 'cancel' AND c.request_id <> '' AND p.in_outage
) k ON m.inquiry_number = k.inquiry_number AND m.request_id = k.request_id AND m.amount_yen = -k.amount_yen
WHERE m.kind = 'payment' AND NOT (m.occurred_at >= %(start)s AND m.occurred_at < %(end)s)
"""

# The receipt-site URL goes by SMS (to a mobile number only: 060/070/080/090) or e-mail; an app
# account with only a landline has nowhere to send it, so its traveller must apply.
APP_ROUTE = (
    "CASE WHEN c.app_account_id <> '' AND c.app_withdrawn_at IS NULL "
    "AND (c.app_phone ~ '^\\+81[6789]0' OR c.app_email <> '') THEN 'app' ELSE 'application' END"
)

# Each selects (inquiry_number, route, cutoff_at, amount_yen, evidence) for the decisions.
SELECT_1_1 = f"""
SELECT c.inquiry_number, {APP_ROUTE} AS route, %(c11)s::timestamptz AS cutoff_at,
       b.at_1_1 AS amount_yen, '{{}}'::jsonb AS evidence
FROM coupons_coupon c JOIN elig_balance b USING (inquiry_number)
WHERE c.expires_on = %(d11)s AND b.at_1_1 >= 1 AND {IN_SCOPE}
"""

SELECT_1_2 = f"""
SELECT c.inquiry_number, 'callcenter' AS route, %(c12)s::timestamptz AS cutoff_at,
       b.at_1_2 AS amount_yen, '{{}}'::jsonb AS evidence
FROM coupons_coupon c JOIN elig_balance b USING (inquiry_number)
WHERE c.expires_on = %(d12)s AND b.at_1_2 >= 1 AND {IN_SCOPE}
"""

# 2-x candidates come from claims.services.eligibility.deductions (already in scope).
SELECT_2_X = """
SELECT inquiry_number, 'callcenter' AS route, NULL::timestamptz AS cutoff_at, amount_yen, evidence
FROM {table}
"""

# What each decision's group reads now, per entitlement (0: the coupon no longer qualifies, or is
# no longer in scope), for the decisions made before this run. Used by the review.
CURRENT_AMOUNT = f"""
SELECT e.id,
       CASE WHEN NOT {IN_SCOPE} THEN 0
            WHEN e.category = '1-1' AND c.expires_on = %(d11)s THEN greatest(coalesce(b.at_1_1, 0), 0)
            WHEN e.category = '1-2' AND c.expires_on = %(d12)s THEN greatest(coalesce(b.at_1_2, 0), 0)
            WHEN e.category = '2-1' THEN coalesce(c21.amount_yen, 0)
            WHEN e.category = '2-2' THEN coalesce(c22.amount_yen, 0)
            ELSE 0 END AS amount_now,
       CASE e.category WHEN '2-1' THEN c21.evidence WHEN '2-2' THEN c22.evidence END AS evidence_now
FROM claims_entitlement e
JOIN coupons_coupon c ON c.inquiry_number = e.inquiry_number
LEFT JOIN elig_balance b ON b.inquiry_number = e.inquiry_number AND e.category IN ('1-1', '1-2')
LEFT JOIN elig_2_1 c21 ON c21.inquiry_number = e.inquiry_number AND e.category = '2-1'
LEFT JOIN elig_2_2 c22 ON c22.inquiry_number = e.inquiry_number AND e.category = '2-2'
WHERE e.incident_id = %(incident)s AND e.category <> 'other' AND e.id <= %(decided_before)s
"""
