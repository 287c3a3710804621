"""The sellers of a run: the list a merchant issues for (SELLERS_FILE, design.md s.6).

Generated from the scenario seed so a run is reproducible; the same file goes to the
platform (`--sellers`), to the merchant and to the load model.
"""
from __future__ import annotations

import json
import random
import secrets as _secrets
from pathlib import Path
from typing import NotRequired, TypedDict

from . import nip, uscc

__all__ = ["Seller", "generate_sellers", "generate_pl_sellers", "write_sellers", "read_sellers",
           "PL_PROFILES", "sellers_for"]

# platform profiles whose sellers are Polish companies (NIP, KSeF token; design.md s.13)
PL_PROFILES = ("ksef",)


class Seller(TypedDict):
    seller_tax_id: str
    name: str
    secret: str
    #: the seller's app on a provider's open API (the nuonuo profile, design.md s.13):
    #: appKey / appSecret; generated files always carry them, a user's file may leave them out
    app_key: NotRequired[str]
    app_secret: NotRequired[str]
    ksef_token: NotRequired[str]     # ksef profile: the seller's KSeF token (= secret)


_SHOP_WORDS = ("华联", "翠微", "王府井", "西单", "国贸", "三里屯", "望京", "中关村", "五道口",
               "朝阳大悦城", "蓝色港湾", "合生汇", "龙湖", "来福士", "颐堤港", "金源")
_SHOP_KINDS = ("百货", "超市", "数码", "餐饮", "服饰", "家电", "书店", "药房", "便利店", "烘焙")


def generate_sellers(n: int, seed: int) -> list[Seller]:
    """`n` sellers with valid Beijing unified social credit codes and distinct names."""
    rng = random.Random(f"sellers:{seed}")
    apps = random.Random(f"apps:{seed}")     # its own stream: the ids and secrets stay as they were
    out: list[Seller] = []
    seen: set[str] = set()
    while len(out) < n:
        tax_id = uscc.generate(rng)
        if tax_id in seen:
            continue
        seen.add(tax_id)
        name = f"北京{rng.choice(_SHOP_WORDS)}{rng.choice(_SHOP_KINDS)}有限公司{len(out) + 1:03d}"
        secret = "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(24))
        app_key = "IC" + "".join(apps.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        app_secret = "".join(apps.choice("0123456789ABCDEF") for _ in range(16))
        out.append(Seller(seller_tax_id=tax_id, name=name, secret=secret, app_key=app_key,
                          app_secret=app_secret))
    return out


def generate_pl_sellers(n: int, seed: int) -> list[Seller]:
    """`n` Polish sellers: valid NIPs, company names of Faker's pl_PL locale, and a KSeF
    token each in the real token's shape (`<reference>|nip-<NIP>|<64 hex>`); the token is
    also the seller's `secret`, the one credential a KSeF ERP holds."""
    from faker import Faker

    rng = random.Random(f"pl-sellers:{seed}")
    fake = Faker("pl_PL")
    fake.seed_instance(seed)
    out: list[Seller] = []
    seen: set[str] = set()
    while len(out) < n:
        tax_id = nip.generate(rng)
        if tax_id in seen:
            continue
        seen.add(tax_id)
        ref = f"20260101-EC-{rng.getrandbits(40):010X}-{rng.getrandbits(40):010X}-{len(out):02X}"
        token = f"{ref}|nip-{tax_id}|{rng.getrandbits(256):064x}"
        out.append(Seller(seller_tax_id=tax_id, name=f"{fake.company()} {len(out) + 1:03d}",
                          secret=token, ksef_token=token))
    return out


def sellers_for(profile: str, n: int, seed: int) -> list[Seller]:
    """The sellers a run of platform `profile` issues for (Polish ones for KSeF)."""
    return generate_pl_sellers(n, seed) if profile in PL_PROFILES else generate_sellers(n, seed)


def write_sellers(path: Path, sellers: list[Seller]) -> None:
    path.write_text(json.dumps(sellers, ensure_ascii=False, indent=1), encoding="utf-8")


def read_sellers(path: Path) -> list[Seller]:
    """Read and check a sellers file; ValueError names the entry that is wrong."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: must be a non-empty JSON list of {{seller_tax_id, name, secret}}")
    for i, s in enumerate(data):
        if not isinstance(s, dict) or not {"seller_tax_id", "name", "secret"} <= s.keys():
            raise ValueError(f"{path}: entry {i} needs seller_tax_id, name and secret")
        tid = s["seller_tax_id"]
        # a 10-digit tax id is a Polish NIP (ksef profile), else a unified social credit code
        why = (nip.invalid_reason(tid) if isinstance(tid, str) and len(tid) == 10
               else uscc.invalid_reason(tid))
        if why:
            raise ValueError(f"{path}: entry {i}: seller_tax_id {s['seller_tax_id']!r} {why}")
        for key in ("app_key", "app_secret"):
            if key in s and (not isinstance(s[key], str) or not s[key]):
                raise ValueError(f"{path}: entry {i}: {key} must be a non-empty string")
    keys = [s["app_key"] for s in data if "app_key" in s]
    if len(keys) != len(set(keys)):
        raise ValueError(f"{path}: two sellers have the same app_key")
    return data


def random_secret() -> str:
    return _secrets.token_urlsafe(18)
