"""The closed model the benchmark compares against: fixed users, each waiting for
its answer and then thinking (Locust's ordinary way). Sized for the target rate at
the *expected* service time, it falls short when the system slows down, which is
exactly when the load matters. Used only by benchmarks/bench_load.py.
"""
from __future__ import annotations

import itertools
import os

import httpx
from locust import User, constant, task

_ids = itertools.count()
THINK_S = float(os.environ.get("CLOSED_THINK_S", "1.0"))


class ClosedCustomer(User):
    wait_time = constant(THINK_S)

    def on_start(self) -> None:
        self.client = httpx.Client(base_url=os.environ["CLOSED_TARGET"], timeout=5.0)

    @task
    def checkout(self) -> None:
        oid = f"C{os.getpid()}-{next(_ids)}"
        body = {"order_id": oid, "seller_tax_id": "91110000600001760P", "buyer": {"name": "x"},
                "lines": [{"name": "*日用杂品*保温杯", "quantity": "1", "unit_price": "39.90",
                           "tax_rate": "0.13"}], "kind": "normal"}
        with self.environment.events.request.measure("POST", "issue"):
            self.client.post("/v1/invoices", json=body).raise_for_status()
