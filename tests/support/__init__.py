"""What the tests share, so each test reads as what it checks.

    processes.py   one way to start a real process: `Proc` (its own process group, a health
                   check, kill / pause / stop / start again), the fakes' command lines, the
                   `invoice-chaos` command as a user runs it, and what a run left behind
    stacks.py      a real LocalStack (Toxiproxy, platform, merchant), always taken down
    scenarios.py   a small scenario around one platform: block, for the profiles' key tests
    history.py     literal history events and ledger lines (design.md s.7), for the
                   checker's, the recovery figures' and the report's tests

Shared fixtures are in tests/conftest.py. `tests/` is on the import path (pyproject.toml,
pytest's `pythonpath`), so a test imports `from support.history import ev`.
"""
