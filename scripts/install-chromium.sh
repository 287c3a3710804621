#!/usr/bin/env bash
# Debian's chromium, for the test that renders a sweep's sweep.html headless.
# Already installed: nothing to do. Else, as root with apt-get: install it, one apt at a
# time (flock: several checkouts may run `make setup` together; apt's own lock would make
# the second one fail instead of wait). Else say how, and go on: only that test needs it.
set -euo pipefail
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "chromium: using $(command -v "$name")"
    exit 0
  fi
done
lock="${INVOICE_CHAOS_APT_LOCK:-/tmp/invoice-chaos-apt.lock}"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "chromium: installing Debian's package (apt-get, under flock $lock)"
  flock "$lock" sh -c 'apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends chromium'
  exit 0
fi
echo "chromium: not installed; the sweep.html browser test needs it:" >&2
echo "  sudo apt-get install chromium     (Debian/Ubuntu)" >&2
exit 0
