#!/usr/bin/env bash
# readerlab fuzz on libccid, as a user meets it: the hunt boots the guest once, runs its trials
# through pcscd + libccid under drawn fault schedules, and ends saying whether libccid broke.
#   fuzz_guest_test.sh READERLAB_BINARY [GUEST_DIR]
set -u
readerlab=$1
guest=${2:-}
# Seed 2's first three trials leave libccid healthy (a break would be a finding about libccid, or
# about the model: read the trial's log before changing the seed).
seed=${READERLAB_FUZZ_GUEST_SEED:-2}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d /tmp/readerlab-fuzz-guest-test-XXXXXX)
trap 'rm -rf "$work"' EXIT

guest_option=()
[ -n "$guest" ] && guest_option=(--guest "$guest")
"$readerlab" fuzz --driver libccid --seed "$seed" --runs 3 "${guest_option[@]}" --out "$work/hunt" >"$work/hunt.txt" 2>&1
status=$?
cat "$work/hunt.txt"
[ $status -eq 0 ] || fail "readerlab fuzz --driver libccid --seed $seed --runs 3 exits $status, not 0"
grep -q "^readerlab fuzz: libccid, seed $seed, [0-9]* case(s), 3 trial(s) at most" "$work/hunt.txt" ||
  fail "the hunt does not announce libccid, its seed and its trials"
[ "$(grep -c '(booting the guest: first boot)' "$work/hunt.txt")" -eq 1 ] || fail "the guest was not booted exactly once first"
for trial in 1 2 3; do
  grep -q "^trial $trial \[pcsc/" "$work/hunt.txt" || fail "trial $trial did not run a PC/SC case"
  [ -s "$work/hunt/fuzz/trial.log" ] || fail "no trial log"
done
[ "$(grep -c '^  healthy' "$work/hunt.txt")" -eq 3 ] || fail "not every trial was found healthy"
grep -q "no break in 3 trial(s)" "$work/hunt.txt" || fail "the hunt does not say it found nothing"
grep -q "pcscd started" "$work/hunt/fuzz/guest/guest-console.log" 2>/dev/null || fail "the guest's console log does not show pcscd starting"

if [ $failures -eq 0 ]; then echo "fuzz guest: all checks passed"; else echo "fuzz guest: $failures check(s) failed"; exit 1; fi
