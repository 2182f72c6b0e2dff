#!/usr/bin/env bash
# readerlab serve as a script drives it: addresses it refuses, --help, and replies on stdin
# commands that arrive line by line through a pipe (no buffering until exit).
#   serve_test.sh READERLAB_BINARY
set -u
readerlab=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

out=$("$readerlab" serve --listen 0.0.0.0:0 2>&1); status=$?
[ $status -eq 2 ] || fail "a non-loopback address exits $status, not 2"
grep -q "0.0.0.0:0 is not a loopback address" <<<"$out" || fail "no reason for refusing 0.0.0.0: $out"

"$readerlab" serve --help >/dev/null 2>&1 || fail "serve --help does not exit 0"

work=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
mkfifo "$work/in" "$work/out"
"$readerlab" serve --listen "unix:$work/reader.sock" --listen 127.0.0.1:0 <"$work/in" >"$work/out" 2>"$work/err" &
server=$!
exec 3>"$work/in" 4<"$work/out"

# Each reply must come while serve keeps running: a buffered stdout would hold it back.
expect_line() {
  local line
  while IFS= read -r -t 10 line <&4; do
    [[ $line == *"$1"* ]] && return 0
  done
  fail "no line with '$1' within 10 s"
  return 1
}
expect_line "(unix socket, this machine only)"
expect_line "(loopback, this machine only)"
echo "frobnicate" >&3
expect_line "unknown command 'frobnicate'"
echo "insert no-such-card" >&3
expect_line "unknown card 'no-such-card'"
echo "remove" >&3
expect_line "remove: 0 reader(s)"
exec 3>&-
kill $server 2>/dev/null
wait $server 2>/dev/null

if [ $failures -eq 0 ]; then echo "serve: all checks passed"; exit 0; fi
exit 1
