#!/usr/bin/env bash
# readerlab fuzz as a user meets it: it finds the planted bug of examples/rdf_drivers/planted_bug
# from a fixed seed within 60 s, writes a case that `readerlab run --case` fails with the same
# finding, and finds nothing on the reference driver in 20 trials (libccid's hunt boots the guest:
# fuzz_guest_test.sh).
#   fuzz_test.sh READERLAB_BINARY
set -u
readerlab=$1
# Seed 6 draws the planted stall in its second trial (seed 1 finds another bug, the unnotified
# removal minimal-c has too, after 51 s).
seed=${READERLAB_FUZZ_SEED:-6}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d /tmp/readerlab-fuzz-test-XXXXXX)
trap 'rm -rf "$work"' EXIT

out=$("$readerlab" fuzz --help 2>&1); status=$?
[ $status -eq 0 ] || fail "readerlab fuzz --help exits $status"
grep -q -- "--runs" <<<"$out" || fail "readerlab fuzz --help does not list --runs"

err=$("$readerlab" fuzz --driver all --runs 1 2>&1 >/dev/null); status=$?
[ $status -eq 2 ] || fail "readerlab fuzz --driver all exits $status, not 2"
err=$("$readerlab" fuzz --driver planted-stall --runs 3 --time 5 2>&1 >/dev/null); status=$?
[ $status -eq 2 ] || fail "readerlab fuzz with --runs and --time exits $status, not 2 ($err)"

# The hunt: a break within the minute, shrunk, written, replayed.
"$readerlab" fuzz --driver planted-stall --seed "$seed" --time 60 --out "$work/hunt" >"$work/hunt.txt" 2>&1
status=$?
cat "$work/hunt.txt"
[ $status -eq 1 ] || fail "readerlab fuzz --driver planted-stall --seed $seed exits $status, not 1 (a break)"
found=$(sed -n 's/^  case written: *//p' "$work/hunt.txt")
[ -n "$found" ] && [ -f "$found" ] || fail "no case written (\"$found\")"
grep -q "^  shrunk schedule: usb stall" "$work/hunt.txt" || fail "the shrunk schedule is not one stall"
grep -q "^  replayed: *breaks again" "$work/hunt.txt" || fail "the written case did not break again in the hunt"
if [ -n "$found" ] && [ -f "$found" ]; then
  grep -q "^-- @seed: [0-9]" "$found" || fail "the written case has no @seed"
  grep -q "^lab.faults{" "$found" || fail "the written case arms no faults"
  grep -q "^lab.check_driver_healthy()" "$found" || fail "the written case does not check the driver's health"
  # The written case, from a folder of its own, through readerlab run: it fails, and the same way.
  cp "$found" "$work/elsewhere.lua"
  "$readerlab" run --driver planted-stall --case "$work/elsewhere.lua" --out "$work/replay" >"$work/replay.txt" 2>&1
  status=$?
  cat "$work/replay.txt"
  [ $status -eq 1 ] || fail "readerlab run --case the written case exits $status, not 1"
  grep -q "driver unhealthy after the faults" "$work/replay.txt" || fail "the replay does not fail on the driver's health"
  grep -q "1 failed" "$work/replay.txt" || fail "the replay does not report one failure"
fi

# The reference driver: nothing to find in 20 trials from the same seed.
"$readerlab" fuzz --driver reference-rdf --seed "$seed" --runs 20 --out "$work/reference" >"$work/reference.txt" 2>&1
status=$?
tail -5 "$work/reference.txt"
[ $status -eq 0 ] || fail "readerlab fuzz --driver reference-rdf --seed $seed --runs 20 exits $status: it broke ($(grep -A2 'broke$' "$work/reference.txt"))"
grep -q "no break in 20 trial(s)" "$work/reference.txt" || fail "the reference hunt does not say it found nothing"

if [ $failures -eq 0 ]; then echo "fuzz: all checks passed"; else echo "fuzz: $failures check(s) failed"; exit 1; fi
