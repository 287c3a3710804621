"""The robust merchant's group commit (Store.put_async): the rows put during one loop turn
share one transaction, each caller resumes only after it committed, and a write error
reaches every caller of the batch."""
from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest

from fakes.merchant.store import OrderRow, Store


def _row(i: int) -> OrderRow:
    return OrderRow(order_id=f"O-{i}", seller_tax_id="91110105346ERM1NQF",
                    order={"order_id": f"O-{i}"}, payload={"order_ref": f"O-{i}"},
                    request_id=uuid.uuid4().hex)


def _on_disk(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as other:             # another connection: what is committed
        return dict(other.execute("SELECT order_id, status FROM orders"))


def test_one_transaction_per_turn_and_durable_on_return(tmp_path: Path) -> None:
    store = Store(tmp_path)
    seen_by_get: list[object] = []

    async def one(i: int) -> None:
        row = _row(i)
        put = asyncio.ensure_future(store.put_async(row))
        await asyncio.sleep(0)                          # staged, not committed yet
        seen_by_get.append(store.get(row.order_id))
        assert store.get_latest(row.order_id) is not None
        await put
        assert _on_disk(store.path).get(row.order_id) == "pending"   # durable on return
        row.status = "issued"
        await store.put_async(row)
        assert _on_disk(store.path)[row.order_id] == "issued"

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(40)))

    asyncio.run(main())
    assert store.group_rows == 80
    assert store.group_commits <= 4                     # 40 orders, 2 writes each
    assert all(x is None for x in seen_by_get)          # queries read committed rows only
    store.close()


def test_a_failed_commit_reaches_every_waiter(tmp_path: Path) -> None:
    store = Store(tmp_path)

    async def main() -> list[object]:
        store.db.close()                                # every write now fails
        return await asyncio.gather(*(store.put_async(_row(i)) for i in range(5)),
                                    return_exceptions=True)

    out = asyncio.run(main())
    assert len(out) == 5 and all(isinstance(e, sqlite3.ProgrammingError) for e in out)
    assert store._staged == {}


def test_a_later_plain_put_wins_over_a_staged_state(tmp_path: Path) -> None:
    store = Store(tmp_path)

    async def main() -> None:
        row = _row(1)
        put = asyncio.ensure_future(store.put_async(row))
        await asyncio.sleep(0)
        newer = _row(1)
        newer.request_id, newer.status = row.request_id, "failed"
        store.put(newer)                                # newer state, written at once
        await put

    asyncio.run(main())
    assert _on_disk(store.path) == {"O-1": "failed"}
    store.close()


@pytest.mark.parametrize("mode", ["robust", "ack-before-commit", "naive-retry"])
def test_only_the_robust_clearance_merchant_groups(tmp_path: Path, mode: str) -> None:
    from fakes.merchant.config import parse_config
    from fakes.merchant.service import Merchant

    cfg = parse_config([], {"PORT": "1", "TAX_PLATFORM_URL": "http://127.0.0.1:9",
                            "SELLERS_FILE": "x", "DATA_DIR": str(tmp_path), "MERCHANT_MODE": mode})
    m = Merchant(cfg, {})
    try:
        assert m._group is (mode == "robust")
    finally:
        m.store.close()


def test_a_query_in_the_same_turn_waits_for_the_commit(tmp_path: Path) -> None:
    """An order's first write and a query of it handled in one loop turn (both requests read
    after a stall): the query must see the row, not answer "unknown order"."""
    store = Store(tmp_path)

    async def main() -> tuple[object, object]:
        row = _row(7)
        put = asyncio.ensure_future(store.put_async(row))

        async def query() -> object:
            before = store.get(row.order_id)             # staged: not committed yet
            await store.settled(row.order_id)
            return before, store.get(row.order_id)

        q = asyncio.ensure_future(query())
        await put
        return await q

    before, after = asyncio.run(main())
    assert before is None and after is not None and after.order_id == "O-7"
    store.close()
