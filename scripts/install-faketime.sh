#!/usr/bin/env bash
# libfaketime for the clock_skew fault: Debian's `faketime` package. Installed with apt when
# this runs as root on a Debian/Ubuntu machine (CI containers are); otherwise says how, and
# never fails the setup: only scenarios with clock_skew need it (they exit 3 without it).
set -euo pipefail
for lib in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
  if [ -f "$lib" ]; then exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's faketime package (libfaketime, for the clock_skew fault) ..."
  # one apt at a time on a shared machine; apt's own lock is waited for as well
  flock /tmp/invoice-chaos-apt.lock sh -c \
    'apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq faketime' \
    || echo "warning: apt-get install faketime failed; clock_skew scenarios will exit 3" >&2
else
  echo "note: clock_skew needs libfaketime: sudo apt-get install faketime (or set INVOICE_CHAOS_LIBFAKETIME)" >&2
fi
