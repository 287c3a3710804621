#!/usr/bin/env bash
# Install the Toxiproxy server as .tools/bin/toxiproxy-server.
# Order: an existing toxiproxy-server on PATH; else build the pinned release with Go;
# else explain the alternatives and exit 3 (design.md s.3: stack cannot come up).
# With a third argument `static`: .tools/bin/toxiproxy-server-static, a statically linked
# server for the docker backend's FROM-scratch image (the one above when it is static,
# else built with CGO_ENABLED=0).
set -euo pipefail
version="${1:?version}"
dest="${2:?destination dir}"
mkdir -p "$dest"
target="$dest/toxiproxy-server"

is_static() { # a dynamically linked server names its loader (ld-linux*.so) in its header
  [ -x "$1" ] && ! grep -qa 'ld-linux' "$1"
}
build() { # build the pinned release with Go into $1 (pure Go, so it is static)
  local tmp
  tmp="$(mktemp -d)"
  CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install \
    -ldflags "-s -w -X github.com/Shopify/toxiproxy/v2.Version=$version" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@v$version"
  mv "$tmp/server" "$1"
  rm -rf "$tmp"
}

if [ "${3:-}" = static ]; then
  static="$dest/toxiproxy-server-static"
  if is_static "$target"; then
    ln -sf "$(readlink -f "$target")" "$static"
    echo "toxiproxy-server-static: $target is statically linked; using it"
    exit 0
  fi
  if command -v go >/dev/null 2>&1; then
    echo "toxiproxy-server-static: building v$version with CGO_ENABLED=0 (about a minute, once)"
    build "$static"
    echo "toxiproxy-server-static: installed $static ($("$static" -version))"
    exit 0
  fi
  echo "toxiproxy-server-static: $target is not statically linked and Go is not installed;" >&2
  echo "  the docker backend needs a static toxiproxy-server: install Go and run 'make setup' again," >&2
  echo "  or save the release binary toxiproxy-server-linux-amd64 (static) as $static" >&2
  exit 3
fi

existing=""
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  [ -z "$d" ] && continue
  case "$(cd "$d" 2>/dev/null && pwd)" in "$(cd "$dest" && pwd)") continue;; esac
  if [ -x "$d/toxiproxy-server" ]; then existing="$d/toxiproxy-server"; break; fi
done
if [ -n "$existing" ]; then
  ln -sf "$existing" "$target"
  echo "toxiproxy-server: using $existing"
  exit 0
fi

if command -v go >/dev/null 2>&1; then
  echo "toxiproxy-server: building v$version with $(go version | cut -d' ' -f3) (about 30 s, once)"
  build "$target"
  echo "toxiproxy-server: installed $target ($("$target" -version))"
  exit 0
fi

cat >&2 <<MSG
toxiproxy-server was not found and Go is not installed, so it cannot be built.
Install one of these, then run 'make setup' again:
  - Go >= 1.23 (https://go.dev/dl/), and 'make setup' builds Toxiproxy v$version itself;
  - the release binary: https://github.com/Shopify/toxiproxy/releases/tag/v$version
    (toxiproxy-server-linux-amd64), saved as $target or anywhere on PATH as toxiproxy-server;
  - the Docker image ghcr.io/shopify/toxiproxy:$version: copy its binary out with
      docker create --name tp ghcr.io/shopify/toxiproxy:$version && docker cp tp:/toxiproxy $target
MSG
exit 3
