"""The client adapter of Job ERP (server.py): an invoice request is a job to create and poll.

    invoice-chaos run scenarios/smoke.yaml \
        --sut-cmd "python3 examples/job_erp/server.py" \
        --client examples/job_erp/adapter.py:JobErp

`issue` creates the job and polls it for a short while (a customer at a till waits a
moment); a job still running is `pending`, and the harness keeps asking through `query`,
which finds the job by its reference, so the drain and the final read (another process)
need no memory of job ids.
"""
from __future__ import annotations

import time
from typing import Any

from harness.client import Adapter, Answer, Response

#: How long `issue` and `refund` poll before answering pending (bounded by half the call's
#: time): a customer at a till waits a moment, long enough for a job that meets no trouble.
WAIT_S = 2.5
POLL_S = 0.1


class JobErp(Adapter):
    def issue(self, order: dict[str, Any]) -> Answer:
        order_input = {k: order[k] for k in ("seller_tax_id", "buyer", "lines", "kind")}
        r = self.http.post("/jobs", json={"type": "invoice.issue", "ref": order["order_id"],
                                          "input": order_input})
        if r.status in (400, 422):
            return Answer.failed(f"http {r.status}")          # refused: no job, no invoice
        return self._follow(r, "invoice_number")

    def query(self, order_id: str) -> Answer:
        r = self.http.get("/jobs", params={"type": "invoice.issue", "ref": order_id})
        if r.status >= 500:
            return Answer.unknown(f"http {r.status}")
        jobs = _body(r).get("jobs")
        if r.status != 200 or not isinstance(jobs, list):
            return Answer.unmapped("GET /jobs without a job list", r)
        if not jobs:
            return Answer.not_found()
        return _state(jobs[0], "invoice_number", r)

    def refund(self, order_id: str) -> Answer:
        r = self.http.post("/jobs", json={"type": "invoice.reverse", "ref": order_id})
        if r.status in (404, 409):
            return Answer.failed(f"http {r.status}")           # nothing to reverse
        return self._follow(r, "red_invoice_number")

    def _follow(self, r: Response, field: str) -> Answer:
        """A job just created (202) or found again (200): poll it until it is decided or the
        wait is over."""
        if r.status >= 500:
            return Answer.unknown(f"http {r.status}")
        job = _body(r)
        if r.status not in (200, 202) or "id" not in job:
            return Answer.unmapped("POST /jobs without a job", r)
        end = time.monotonic() + min(WAIT_S, (self.time_left() or WAIT_S) / 2)
        while job.get("state") in ("queued", "running") and time.monotonic() < end:
            time.sleep(POLL_S)
            r = self.http.get(f"/jobs/{job['id']}")
            if r.status != 200:
                return Answer.pending()          # it was created: ask again later, via query
            job = _body(r)
        return _state(job, field, r)


def _body(r: Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _state(job: dict[str, Any], field: str, r: Response) -> Answer:
    state = job.get("state")
    if state in ("queued", "running"):
        return Answer.pending()
    if state == "succeeded":
        return Answer.issued((job.get("result") or {}).get(field))
    if state == "failed":
        return Answer.failed((job.get("error") or {}).get("code") or "failed")
    return Answer.unmapped(f"job state {state!r}", r)
