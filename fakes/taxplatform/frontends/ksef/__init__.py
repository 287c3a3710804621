"""The `ksef` profile (design.md s.13): Poland's KSeF API 2.0 over the ledger core.

Modules: `ids` (KSeF and reference numbers), `fa3` (the official FA(3) XSD and the fields
the ledger needs), `crypto` (the fake's RSA keys and certificates, AES), `limits` (the
per-endpoint rate limits), `errors` (both error formats), `upo` (receipts), `desk` (auth,
sessions, decisions, durability), `http` (the routes under /v2 and /api/v2).
"""
