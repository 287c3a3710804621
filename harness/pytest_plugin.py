"""pytest plugin: collects scenario files as tests (filled in by harness.pytest_plugin)."""
