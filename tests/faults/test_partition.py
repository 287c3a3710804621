"""`partition` on the local backend (harness/faults/partition.py): both directions of each of
the target's Toxiproxy links go silent for the window, the other links keep working, and
everything answers again after the undo. The docker backend's partition (the container off
the run's network) is in tests/stack/docker_backend/."""
from __future__ import annotations

import httpx
import pytest

from harness.faults.partition import links_of

from .kit import applied, plan_one, probe

pytestmark = pytest.mark.integration


def test_the_links_of_a_target_are_those_that_touch_it():
    assert links_of("taxplatform") == ["merchant->taxplatform", "client->taxplatform",
                                       "taxplatform->merchant"]
    assert links_of("merchant") == ["client->merchant", "merchant->taxplatform",
                                    "taxplatform->merchant"]


def test_partition_silences_every_link_of_the_platform_and_only_those(healed):
    ports = healed.stack.ports
    fault = plan_one({"for": "60s", "target": "taxplatform", "action": "partition"})
    with applied(healed.stack, fault) as info:
        assert len(info["toxics"]) == 6                  # three links (callbacks too), both directions
        for link in ("merchant->taxplatform", "client->taxplatform"):
            with pytest.raises(httpx.ReadTimeout):      # silence, not a refusal
                httpx.get(f"http://127.0.0.1:{ports[link]}/healthz", timeout=1.0)
        assert probe(ports["client->merchant"]).status == 200     # the merchant's own link is untouched
    for link in ("merchant->taxplatform", "client->taxplatform"):
        assert probe(ports[link]).status == 200
        assert healed.stack.toxiproxy.toxics(link) == []


def test_partition_of_the_merchant_cuts_the_customers_off_from_it(healed):
    ports = healed.stack.ports
    fault = plan_one({"for": "60s", "target": "merchant", "action": "partition"})
    with applied(healed.stack, fault):
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"http://127.0.0.1:{ports['client->merchant']}/healthz", timeout=1.0)
        assert probe(ports["client->taxplatform"]).status == 200
    assert probe(ports["client->merchant"]).status == 200
