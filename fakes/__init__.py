"""Fake services of invoice-chaos: the tax platform and the merchant (system under test)."""
