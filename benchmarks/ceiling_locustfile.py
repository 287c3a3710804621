"""Locust's own fastest client, for the ceiling the load path is measured against:
FastHttpUser (geventhttpclient), no wait, one POST of a small JSON body per task.

    CEILING_TARGET=http://127.0.0.1:PORT locust -f benchmarks/ceiling_locustfile.py --headless -u 64 ...
"""
from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

_BODY = b'{"order_id":"O1-1","seller_tax_id":"91110000000000000X","kind":"normal"}'


class Ceiling(FastHttpUser):
    host = os.environ.get("CEILING_TARGET", "http://127.0.0.1:8099")
    wait_time = constant(0)

    @task
    def issue(self) -> None:
        self.client.post("/v1/invoices", data=_BODY, headers={"Content-Type": "application/json"})
