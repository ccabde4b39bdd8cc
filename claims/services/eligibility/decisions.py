"""Decisions and their transitions, in the order a run makes them: new entitlements, the echoes of
our reinstatements, each coupon's final amount as it reads now, the review of what was decided
before (flag, clear a flag, withdraw or restore a candidate), and the final amounts recorded.

Every status this SQL writes is a move of ``claims.services.transitions.TRANSITIONS`` (the
database's trigger refuses any other) and leaves a status-change row, with no actor: the engine.
"""

from __future__ import annotations

from claims.services.eligibility.scans import IN_SCOPE

# Which of a coupon's entitlements carries its final amount when several were extended: the
# coupon is paid once, and the others are "covered" by it.
CATEGORY_ORDER = "array_position(ARRAY['1-1', '1-2', '2-1', '2-2', 'other']::text[], e.category::text)"


def insert_entitlements(select_sql: str, *, extended: bool, category: str) -> str:
    """INSERT the selected (inquiry_number, route, cutoff_at, amount_yen, evidence) rows as new
    entitlements (found, or extended for 1-1: the initial statuses the transitions allow), with
    their history and, when extended automatically, the extension instruction."""
    status = "extended" if extended else "found"
    history = "SELECT id, '', 'found', '判定エンジン' FROM found"
    if extended:
        history += f" UNION ALL SELECT id, 'found', 'extended', '{category}: 自動延長' FROM found"
    instruction = (
        f"""INSERT INTO claims_instruction
              (instruction_id, entitlement_id, action, valid_until, amount_yen, decided_at, applied_at,
               applied_movement_id)
            SELECT %(prefix)s || ':{category}:extend:' || inquiry_number, id, 'extend_validity',
                   valid_until, NULL, %(now)s, NULL, ''
            FROM found
            ON CONFLICT DO NOTHING"""
        if extended
        else "SELECT 1"
    )
    return f"""
    WITH candidate AS ({select_sql}),
    found AS (
      INSERT INTO claims_entitlement
        (incident_id, inquiry_number, category, route, status, cutoff_at, amount_yen, valid_until,
         final_balance_yen, evidence, needs_review, review_note, found_at)
      SELECT %(incident)s, inquiry_number, '{category}', route, '{status}', cutoff_at, amount_yen,
             {"%(ext)s" if extended else "NULL"}, NULL, evidence, false, '', %(now)s
      FROM candidate
      ON CONFLICT (incident_id, inquiry_number, category) DO NOTHING
      RETURNING id, inquiry_number, valid_until
    ),
    history AS (
      INSERT INTO claims_entitlementstatuschange (entitlement_id, from_status, to_status, note, at)
      SELECT h.id, h.from_status, h.to_status, h.note, %(now)s
      FROM ({history}) AS h (id, from_status, to_status, note)
      RETURNING 1
    ),
    instructed AS ({instruction})
    SELECT (SELECT count(*) FROM found)
    """


# The platform's reinstatement whose request id is one of our instructions, on the coupon it was
# meant for, marks the instruction applied.
APPLIED = """
UPDATE claims_instruction i
SET applied_at = e.occurred_at, applied_movement_id = e.movement_id
FROM elig_event e, claims_entitlement decided
WHERE e.kind = 'reinstatement' AND e.request_id = i.instruction_id AND i.applied_at IS NULL
  AND i.action = 'reinstate' AND decided.id = i.entitlement_id
  AND decided.inquiry_number = e.inquiry_number
"""

# Each coupon's final amount as the data reads now (DOMAIN.md "Final amount"): the balance at the
# final instant, plus this incident's reinstatements the platform applied at or after it (the
# platform's balance), plus what was decided at or after it (paid directly, sent nowhere). A
# coupon with a reinstatement still waiting for its echo is not final yet.
FINAL_NOW = f"""
CREATE TEMP TABLE elig_final ON COMMIT DROP AS
WITH coupons AS (
  SELECT DISTINCT e.inquiry_number FROM claims_entitlement e
  WHERE e.incident_id = %(incident)s AND e.status IN ('extended', 'payable', 'used_up') AND {{scope}}
),
ours AS (
  SELECT i.instruction_id, d.inquiry_number, i.applied_at
  FROM claims_instruction i JOIN claims_entitlement d ON d.id = i.entitlement_id
  WHERE i.action = 'reinstate' AND d.incident_id = %(incident)s
),
echoed AS (
  SELECT ev.inquiry_number, sum(ev.amount_yen) AS amount
  FROM elig_event ev
  JOIN ours ON ours.instruction_id = ev.request_id AND ours.inquiry_number = ev.inquiry_number
  WHERE ev.kind = 'reinstatement' AND ev.occurred_at >= %(final)s
  GROUP BY ev.inquiry_number
),
waiting AS (SELECT DISTINCT inquiry_number FROM ours WHERE applied_at IS NULL),
late AS (
  SELECT d.inquiry_number, sum(r.amount_yen) AS amount
  FROM claims_reinstatement r JOIN claims_entitlement d ON d.id = r.entitlement_id
  WHERE d.incident_id = %(incident)s AND r.instruction_id IS NULL AND r.decided_at >= %(final)s
  GROUP BY d.inquiry_number
)
SELECT k.inquiry_number,
       coalesce(b.at_final, 0) + coalesce(echoed.amount, 0) AS platform_balance,
       greatest(coalesce(b.at_final, 0) + coalesce(echoed.amount, 0), 0)
         + coalesce(late.amount, 0) AS final_now,
       waiting.inquiry_number IS NOT NULL AS waiting
FROM coupons k
JOIN coupons_coupon c ON c.inquiry_number = k.inquiry_number AND {IN_SCOPE}
LEFT JOIN elig_balance b ON b.inquiry_number = k.inquiry_number
LEFT JOIN echoed ON echoed.inquiry_number = k.inquiry_number
LEFT JOIN waiting ON waiting.inquiry_number = k.inquiry_number
LEFT JOIN late ON late.inquiry_number = k.inquiry_number
"""

# The review: each decision against what the data says now. A difference flags it 要確認 with both
# readings (the money is held until a person resolves it), unless a person already resolved that
# very reading; a flag whose cause went away clears itself with a note; a 2-x candidate nobody
# acted on that the data no longer supports is withdrawn (and restored if the data supports it
# again). Nothing else about a decision changes.
REVIEW = """
CREATE TEMP TABLE elig_review ON COMMIT DROP AS
WITH latest AS (
  SELECT DISTINCT ON (entitlement_id) entitlement_id, seen_amount_yen, seen_final_yen
  FROM claims_reviewresolution
  ORDER BY entitlement_id, at DESC, id DESC
),
reading AS (
  SELECT e.id, e.status, e.category, e.amount_yen, e.final_balance_yen, e.needs_review, e.review_note,
         e.review_amount_yen, e.review_final_yen, n.amount_now, n.evidence_now,
         CASE WHEN e.final_balance_yen IS NOT NULL THEN f.final_now END AS final_now,
         e.final_balance_yen IS NOT NULL AND f.platform_balance < 0 AS negative,
         f.platform_balance,
         latest.entitlement_id IS NOT NULL AS resolved, latest.seen_amount_yen, latest.seen_final_yen,
         -- (a CASE, so that only the few candidates pay for the look-ups, by their indexes)
         CASE WHEN e.category IN ('2-1', '2-2') AND e.status IN ('found', 'withdrawn')
              THEN NOT EXISTS (SELECT 1 FROM claims_entitlementstatuschange x
                               WHERE x.entitlement_id = e.id AND x.actor_id IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM claims_reviewresolution x
                                   WHERE x.entitlement_id = e.id AND x.actor_id IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM claims_reinstatement x WHERE x.entitlement_id = e.id)
              ELSE false END AS untouched
  FROM claims_entitlement e
  JOIN elig_now n ON n.id = e.id
  LEFT JOIN elig_final f ON f.inquiry_number = e.inquiry_number
  LEFT JOIN latest ON latest.entitlement_id = e.id
),
judged AS (
  SELECT r.*,
         (r.amount_now <> r.amount_yen AND NOT (r.resolved AND r.amount_now = r.seen_amount_yen))
         OR (r.final_now IS NOT NULL AND (r.final_now <> r.final_balance_yen OR r.negative)
             AND NOT (r.resolved AND r.final_now = r.seen_final_yen)) AS contradicted
  FROM reading r
)
SELECT j.*,
       CASE
         WHEN j.untouched AND j.status = 'found' AND j.amount_now = 0 THEN 'withdraw'
         WHEN j.untouched AND j.status = 'withdrawn' AND j.amount_now > 0 THEN 'restore'
         WHEN j.status = 'withdrawn' THEN 'none'
         WHEN j.contradicted AND (NOT j.needs_review OR j.review_amount_yen IS DISTINCT FROM j.amount_now
                                  OR j.review_final_yen IS DISTINCT FROM j.final_now) THEN 'flag'
         WHEN NOT j.contradicted AND j.needs_review THEN 'clear'
         ELSE 'none'
       END AS action
FROM judged j
"""

# Amounts in the notes read as people write them (1,200 円); to_char's pattern, not the locale's.
REVIEW_APPLY = [
    # Flag (or update the reading of a flag already raised).
    """
    UPDATE claims_entitlement e
    SET needs_review = true,
        review_amount_yen = r.amount_now,
        review_final_yen = r.final_now,
        review_note = concat_ws(' ',
          CASE WHEN r.amount_now <> r.amount_yen
               THEN format('%%s 時点の判定で金額が %%s 円になりました（記録は %%s 円）。', %(when)s,
                           to_char(r.amount_now, 'FM999,999,999,990'),
                           to_char(r.amount_yen, 'FM999,999,999,990')) END,
          CASE WHEN r.final_now <> r.final_balance_yen
               THEN format('%%s 時点の判定で最終支払額が %%s 円になりました（記録は %%s 円）。', %(when)s,
                           to_char(r.final_now, 'FM999,999,999,990'),
                           to_char(r.final_balance_yen, 'FM999,999,999,990')) END,
          CASE WHEN r.negative
               THEN format('最終残高が %%s 円（マイナス）でした。',
                           to_char(r.platform_balance, 'FM999,999,999,990')) END)
    FROM elig_review r
    WHERE e.id = r.id AND r.action = 'flag'
    """,
    # A flag whose cause went away clears itself, with a note in the flag's history.
    """
    WITH cleared AS (
      UPDATE claims_entitlement e
      SET needs_review = false, review_note = '', review_amount_yen = NULL, review_final_yen = NULL
      FROM elig_review r
      WHERE e.id = r.id AND r.action = 'clear'
      RETURNING e.id, r.amount_now, r.final_now
    )
    INSERT INTO claims_reviewresolution
      (entitlement_id, outcome, review_note, seen_amount_yen, seen_final_yen, reason, actor_id, at)
    SELECT c.id, 'cleared', e.review_note, c.amount_now, c.final_now,
           format('%%s 時点の判定でデータが記録と一致したため、要確認を解除しました。', %(when)s),
           NULL, %(now)s
    FROM cleared c JOIN elig_review e ON e.id = c.id
    """,
    # A candidate nobody acted on, no longer supported: withdrawn with a note (not flagged).
    """
    WITH moved AS (
      UPDATE claims_entitlement e
      SET status = 'withdrawn', needs_review = false, review_note = '', review_amount_yen = NULL,
          review_final_yen = NULL
      FROM elig_review r
      WHERE e.id = r.id AND r.action = 'withdraw'
      RETURNING e.id
    )
    INSERT INTO claims_entitlementstatuschange (entitlement_id, from_status, to_status, note, at)
    SELECT id, 'found', 'withdrawn',
           format('%%s 時点の判定で、候補の根拠となる取引・売上がなくなりました。', %(when)s), %(now)s
    FROM moved
    """,
    # ... and restored, with what the data says now, when it supports the candidate again.
    """
    WITH moved AS (
      UPDATE claims_entitlement e
      SET status = 'found', amount_yen = r.amount_now, evidence = r.evidence_now
      FROM elig_review r
      WHERE e.id = r.id AND r.action = 'restore'
      RETURNING e.id
    )
    INSERT INTO claims_entitlementstatuschange (entitlement_id, from_status, to_status, note, at)
    SELECT id, 'withdrawn', 'found',
           format('%%s 時点の判定で、候補の根拠が再びそろいました。', %(when)s), %(now)s
    FROM moved
    """,
]

REVIEW_COUNTS = "SELECT action, count(*) FROM elig_review WHERE action <> 'none' GROUP BY action"

# Once the clock passes the final instant: each coupon's final amount is recorded on its first
# extended entitlement by group (the others are covered) — but not while a flag on one of them
# holds the coupon, nor while a reinstatement waits for its echo. A coupon already carried by one
# of its entitlements only gets its new ones covered.
FINAL = f"""
WITH waiting AS (
  SELECT e.id, e.needs_review, f.final_now, f.platform_balance,
         row_number() OVER (PARTITION BY e.inquiry_number ORDER BY {CATEGORY_ORDER}) AS position,
         bool_or(e.needs_review) OVER (PARTITION BY e.inquiry_number) AS held,
         EXISTS (
           SELECT 1 FROM claims_entitlement o
           WHERE o.incident_id = e.incident_id AND o.inquiry_number = e.inquiry_number
             AND o.status IN ('payable', 'used_up')) AS carried
  FROM claims_entitlement e JOIN elig_final f ON f.inquiry_number = e.inquiry_number
  WHERE e.incident_id = %(incident)s AND e.status = 'extended' AND e.final_balance_yen IS NULL
    AND NOT f.waiting AND {{scope}}
),
ranked AS (
  SELECT id, final_now, platform_balance, position + CASE WHEN carried THEN 1 ELSE 0 END AS rank
  FROM waiting WHERE carried OR NOT held
),
done AS (
  -- A platform balance below zero (an adjustment took more than was left) needs a look.
  UPDATE claims_entitlement e
  SET final_balance_yen = CASE WHEN r.rank > 1 THEN NULL ELSE r.final_now END,
      status = CASE WHEN r.rank > 1 THEN 'covered' WHEN r.final_now > 0 THEN 'payable' ELSE 'used_up' END,
      needs_review = e.needs_review OR (r.rank = 1 AND r.platform_balance < 0),
      review_amount_yen = CASE WHEN r.rank = 1 AND r.platform_balance < 0 THEN e.amount_yen
                               ELSE e.review_amount_yen END,
      review_final_yen = CASE WHEN r.rank = 1 AND r.platform_balance < 0 THEN r.final_now
                              ELSE e.review_final_yen END,
      review_note = CASE WHEN r.rank = 1 AND r.platform_balance < 0
                         THEN format('最終残高が %%s 円（マイナス）でした。',
                                     to_char(r.platform_balance, 'FM999,999,999,990'))
                         ELSE e.review_note END
  FROM ranked r
  WHERE e.id = r.id
  RETURNING e.id, e.status
),
history AS (
  INSERT INTO claims_entitlementstatuschange (entitlement_id, from_status, to_status, note, at)
  SELECT id, 'extended', status, '最終支払額を記録', %(now)s FROM done
  RETURNING 1
)
SELECT count(*) FROM done
"""
