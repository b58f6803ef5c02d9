#!/usr/bin/env bash
# Checks Cairn with code written by others: Go's golang.org/x/mod/sumdb/tlog
# and sumdb/note, and the Certificate Transparency Go library, as Debian ships
# them. Reads the test vectors, then starts a fresh server of this checkout on
# a free port and checks it (cairninterop/main.go says what). Needs Go and
# Debian packages, so it is not part of `npm test`. Build first (npm run
# interop does).
#
# Usage: scripts/interop/run.sh [--big] [-v] [more cairninterop flags]
#   --big  grow the log to 256,257 entries instead of 70,000
#   -v     print a PASS line per check
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
gocode=/usr/share/gocode
# The project's copy of ../shared/vectors, the one its own tests read.
vectors="$root/test/vectors"

missing=()
command -v go >/dev/null || missing+=(golang-go)
[[ -d $gocode/src/golang.org/x/mod/sumdb/tlog ]] || missing+=(golang-golang-x-mod-dev)
[[ -d $gocode/src/github.com/google/certificate-transparency/go/merkletree ]] ||
  missing+=(golang-github-google-certificate-transparency-dev)
# The CT library's merkletree package is cgo over C++ and OpenSSL.
command -v g++ >/dev/null || missing+=(g++)
[[ -f /usr/include/openssl/sha.h ]] || missing+=(libssl-dev)
if ((${#missing[@]})); then
  echo "interop: missing ${missing[*]}; install with:" >&2
  echo "  apt-get install -y golang-go golang-golang-x-mod-dev golang-github-google-certificate-transparency-dev g++ libssl-dev" >&2
  exit 2
fi
if [[ ! -f $root/dist/src/cli/main.js ]]; then
  echo "interop: no dist/src/cli/main.js; run npm run build first" >&2
  exit 2
fi

tmp="$(mktemp -d)"
server=""
checker=""
cleanup() {
  if [[ -n $checker ]]; then
    kill "$checker" 2>/dev/null || true
  fi
  if [[ -n $server ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "interop: building cairninterop"
# GOPATH mode against the Debian sources only: no module proxy, no network.
if ! (cd "$root/scripts/interop/cairninterop" &&
  GO111MODULE=off GOPATH="$gocode" GOPROXY=off GOFLAGS= \
    go build -o "$tmp/cairninterop" .) >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  exit 2
fi

# status: the worst exit status of the checker's runs (1 failed, 2 could not run).
status=0
check() {
  local s=0
  # In the background, so that a signal to this script runs its traps at once.
  "$tmp/cairninterop" "$@" &
  checker=$!
  wait "$checker" || s=$?
  checker=""
  if ((s > status)); then status=$s; fi
}

echo "interop: vectors in ${vectors#"$root"/}"
check -vectors "$vectors"

node "$root/dist/src/cli/main.js" serve --data "$tmp/data" --host 127.0.0.1 --port 0 --quiet \
  >"$tmp/server.log" 2>&1 &
server=$!
url=""
for _ in $(seq 300); do
  url="$(sed -n 's/^listening on //p' "$tmp/server.log")"
  [[ -n $url ]] && break
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "interop: the server did not start:" >&2
  cat "$tmp/server.log" >&2
  exit 2
fi
vkey="$(sed -n 's/^verifier key: //p' "$tmp/server.log" | head -n 1)"

echo "interop: server at $url"
check -url "$url" -vkey "$vkey" -key "$tmp/data/log.key" "$@"

if ((status)); then
  echo "interop: FAILED (exit status $status)" >&2
else
  echo "interop: all checks passed"
fi
exit "$status"
