"""Merchant modes: the reference `robust` merchant and one defect per real incident.

Each defect mode is the robust merchant with exactly one thing done wrong, so a run with it
must make the checker report that mode's anomaly class (design.md s.7) and nothing else.
The switches live in `Behaviour` so the code paths test a named flag, not a mode string.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MODES", "ANOMALY", "DIRECT_MODES", "KSEF_MODES", "NUONUO_MODES", "Behaviour", "behaviour_for"]

MODES: dict[str, str] = {
    "robust": "reference merchant: durable outbox, one serial per order, query before re-issue, settler",
    "naive-retry": "a new request_id on every retry attempt -> duplicated when a response is lost after commit",
    "fire-and-forget": "drops an upload that got no answer yet tells the customer 'issued' -> lost",
    "ack-before-commit": "answers before its own write is durable (lazy flush every few seconds) -> lost on kill",
    "offline-numbering": "platform unreachable: hands out a locally made number as 'issued' -> lost",
    "no-order-dedup": "a repeated POST for the same order_id issues again with a new serial -> duplicated",
    "stale-status-cache": "two instances with un-invalidated 25 s status caches -> 'pending' after 'issued' (stale_reads)",
    "shared-state-race": "a module-level 'current order' read after an await -> another order's buyer/lines (mismatched)",
    "swallow-errors": "any upload exception (timeout, 5xx) answered as 'failed' and forgotten -> phantom",
    "drop-refunds": "a refund answered 202 'pending' and never sent to the platform -> unresolved",
    # direct profile (design.md s.12): the merchant numbers invoices and uploads them in batches
    "trust-upload-ack": "direct profile: an upload's 202 taken as accepted, never polled -> lost under upload_loss",
    "reuse-range-after-restart": "direct profile: the range cursor lives in memory; after a crash numbers are handed out again -> lost",
    "renumber-on-retry": "direct profile: a stuck upload's invoices re-issued under new numbers -> duplicated when both land",
    "late-upload": "direct profile: the outbox drains only when checkouts stop -> lost by upload_overdue",
    "stale-final-answer": "falls behind its queue on unknown outcomes (stores the order 30 s late, the customer times out) "
                          "and caches 'unknown order' from the first query -> final answer 404 for an issued invoice (phantom)",
    "wallclock-deadline": "gives up an upload in flight once the wall clock says its 60 s deadline passed: a forward clock jump -> 'failed' for invoices that exist (phantom)",
    "ignore-write-errors": "answers 'issued' although its outbox write failed (disk full): the order lives in memory only -> lost after a restart",
    # ksef profile (design.md s.13): the merchant as a Polish ERP on KSeF 2.0
    "renumber-on-timeout": "ksef profile: a timed-out send re-sent under a new invoice number (P_2) -> two invoices when both land (duplicated)",
    "trust-202": "ksef profile: tells the customer 'issued' on the 202 of the send, never polls -> lost when the invoice ends 450 or never gets a KSeF number",
    "duplicate-means-failed": "ksef and nuonuo profiles: 'duplicate' after a re-send (KSeF status 440, nuonuo E9106: orderNo already used) read as a refusal -> 'failed' for an invoice that exists (phantom)",
    "drop-on-429": "ksef profile: an invoice that met a 429 is marked sent and dropped -> lost",
    # nuonuo profile (design.md s.13): asynchronous issuing through a service provider's API
    "trust-submit-ack": "nuonuo profile: '开票提交成功' taken as issued, never queried -> lost when the invoice fails or never arrives",
    "new-orderno-on-retry": "nuonuo profile: a timed-out submission retried under a new orderNo -> a second invoice, under an orderNo no customer sent (orphaned)",
    "stop-polling": "nuonuo profile: gives up after a fixed number of result queries and tells the customer 'failed' -> phantom under slow processing",
    "wait-for-callback": "nuonuo profile: never queries, waits for the callBackUrl POST -> unresolved when the callback link fails",
}

# Modes that act only when the platform runs the direct profile (the others only in clearance).
DIRECT_MODES = ("trust-upload-ack", "reuse-range-after-restart", "renumber-on-retry", "late-upload")
# Modes that act only when the platform runs the ksef profile.
KSEF_MODES = ("renumber-on-timeout", "trust-202", "duplicate-means-failed", "drop-on-429")
# Modes that act only when the platform runs the nuonuo profile (duplicate-means-failed: also).
NUONUO_MODES = ("duplicate-means-failed", "trust-submit-ack", "new-orderno-on-retry",
                "stop-polling", "wait-for-callback")

# The checker class each mode is built to trip (robust: none).
ANOMALY: dict[str, str | None] = {
    "robust": None,
    "naive-retry": "duplicated",
    "fire-and-forget": "lost",
    "ack-before-commit": "lost",
    "offline-numbering": "lost",
    "no-order-dedup": "duplicated",
    "stale-status-cache": "stale_reads",
    "shared-state-race": "mismatched",
    "swallow-errors": "phantom",
    "drop-refunds": "unresolved",
    "trust-upload-ack": "lost",
    "reuse-range-after-restart": "lost",
    "renumber-on-retry": "duplicated",
    "late-upload": "lost",
    "stale-final-answer": "phantom",
    "wallclock-deadline": "phantom",
    "ignore-write-errors": "lost",
    "renumber-on-timeout": "duplicated",
    "trust-202": "lost",
    "duplicate-means-failed": "phantom",
    "drop-on-429": "lost",
    "trust-submit-ack": "lost",
    # the platform's ledger names an invoice's order by its orderNo (design.md s.13), so the
    # second invoice belongs to no customer order: orphaned (the money is charged twice)
    "new-orderno-on-retry": "orphaned",
    "stop-polling": "phantom",
    "wait-for-callback": "unresolved",
}


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The switches of one mode; all False is the robust merchant."""

    new_serial_per_attempt: bool = False   # naive-retry
    drop_unknown_as_issued: bool = False   # fire-and-forget
    lazy_persist: bool = False             # ack-before-commit
    offline_numbers: bool = False          # offline-numbering
    no_order_dedup: bool = False           # no-order-dedup
    stale_cache: bool = False              # stale-status-cache
    shared_current_order: bool = False     # shared-state-race
    unknown_is_failure: bool = False       # swallow-errors
    forget_refunds: bool = False           # drop-refunds
    trust_upload_ack: bool = False         # trust-upload-ack (direct)
    volatile_range_cursor: bool = False    # reuse-range-after-restart (direct)
    renumber_on_retry: bool = False        # renumber-on-retry (direct)
    late_upload: bool = False              # late-upload (direct)
    late_store_cached_404: bool = False    # stale-final-answer
    wallclock_deadline: bool = False       # wallclock-deadline
    ignore_write_errors: bool = False      # ignore-write-errors
    renumber_on_timeout: bool = False      # renumber-on-timeout (ksef)
    trust_202: bool = False                # trust-202 (ksef)
    duplicate_means_failed: bool = False   # duplicate-means-failed (ksef, nuonuo)
    drop_on_429: bool = False              # drop-on-429 (ksef)
    trust_submit_ack: bool = False         # trust-submit-ack (nuonuo)
    new_orderno_on_retry: bool = False     # new-orderno-on-retry (nuonuo)
    stop_polling: bool = False             # stop-polling (nuonuo)
    wait_for_callback: bool = False        # wait-for-callback (nuonuo)


_FLAGS = {
    "robust": {},
    "naive-retry": {"new_serial_per_attempt": True},
    "fire-and-forget": {"drop_unknown_as_issued": True},
    "ack-before-commit": {"lazy_persist": True},
    "offline-numbering": {"offline_numbers": True},
    "no-order-dedup": {"no_order_dedup": True},
    "stale-status-cache": {"stale_cache": True},
    "shared-state-race": {"shared_current_order": True},
    "swallow-errors": {"unknown_is_failure": True},
    "drop-refunds": {"forget_refunds": True},
    "trust-upload-ack": {"trust_upload_ack": True},
    "reuse-range-after-restart": {"volatile_range_cursor": True},
    "renumber-on-retry": {"renumber_on_retry": True},
    "late-upload": {"late_upload": True},
    "stale-final-answer": {"late_store_cached_404": True},
    "wallclock-deadline": {"wallclock_deadline": True},
    "ignore-write-errors": {"ignore_write_errors": True},
    "renumber-on-timeout": {"renumber_on_timeout": True},
    "trust-202": {"trust_202": True},
    "duplicate-means-failed": {"duplicate_means_failed": True},
    "drop-on-429": {"drop_on_429": True},
    "trust-submit-ack": {"trust_submit_ack": True},
    "new-orderno-on-retry": {"new_orderno_on_retry": True},
    "stop-polling": {"stop_polling": True},
    "wait-for-callback": {"wait_for_callback": True},
}


def behaviour_for(mode: str) -> Behaviour:
    """The switches of `mode`; ValueError lists the known modes."""
    try:
        return Behaviour(**_FLAGS[mode])
    except KeyError:
        raise ValueError(f"unknown merchant mode {mode!r}; known: {', '.join(MODES)}") from None
