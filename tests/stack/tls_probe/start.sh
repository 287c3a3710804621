#!/bin/sh
# A system under test that first checks, with no CA option of its own, that Python, curl,
# Node and Java trust the platform's https URL through the environment the harness gave it
# (design.md s.13), writes what each saw to $DATA_DIR/probe.txt, then runs the bundled merchant.
url="$TAX_PLATFORM_URL/healthz"
here=$(dirname "$0")
{
  echo "scheme ${TAX_PLATFORM_URL%%:*}"
  echo "python $(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).status)' "$url" 2>&1 | tail -1)"
  echo "curl $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url" 2>&1)"
  if command -v node >/dev/null 2>&1; then
    echo "node $(node -e 'require("https").get(process.argv[1], r => console.log(r.statusCode)).on("error", e => console.log(e.code))' "$url" 2>&1 | tail -1)"
  fi
  if command -v java >/dev/null 2>&1; then
    echo "java $(java "$here/Probe.java" "$url" 2>&1 | grep -v '^Picked up JAVA_TOOL_OPTIONS' | tail -1)"
  fi
} > "$DATA_DIR/probe.txt" 2>&1
exec "$PYTHON" -m fakes.merchant
