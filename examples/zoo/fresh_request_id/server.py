#!/usr/bin/env python3
"""fresh_request_id (zoo, DEFECTIVE -> duplicated): the sync_reconcile merchant with one
"small" change a real team could make: every retry of an upload gets a brand-new
request_id (e.g. a serial generated per HTTP attempt instead of per order). The platform's
de-duplication cannot recognise the retry, so an upload that timed out after the platform
committed it is issued a second time. The reconciler still searches by the *latest* serial,
which misses the earlier, committed one.
"""
import os
import runpy

os.environ["ZOO_FRESH_RID"] = "1"
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sync_reconcile", "server.py"),
               run_name="__main__")
