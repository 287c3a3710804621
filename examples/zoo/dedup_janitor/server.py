#!/usr/bin/env python3
"""dedup_janitor (zoo, extra, CORRECT BY COMPENSATION): a plausible real-world shop that
retries uploads with a new request_id (like fresh_request_id) but runs a janitor: once the
read replica has caught up it searches the platform by order_ref and red-letters every extra
blue invoice of an order, keeping the one the customer was given. The platform ends with
exactly one live blue invoice per order, plus red ones that cancel the extras. design.md s.7
counts duplicates only when red-letter invoices do not cancel them, so this should PASS
(no duplicated, no misreversed) as long as the janitor finishes within the drain.
"""
import os
import runpy

os.environ["ZOO_FRESH_RID"] = "1"
os.environ["ZOO_JANITOR"] = "1"
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sync_reconcile", "server.py"),
               run_name="__main__")
