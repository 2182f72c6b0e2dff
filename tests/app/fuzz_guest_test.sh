#!/usr/bin/env bash
# readerlab fuzz on libccid, as a user meets it: the hunt boots the guest once, runs its trials
# through pcscd + libccid under drawn fault schedules, and ends saying whether libccid broke.
#   fuzz_guest_test.sh READERLAB_BINARY [GUEST_DIR]
set -u
readerlab=$1
guest=${2:-}
# What libccid does under a drawn schedule can depend on timing in a TCG guest, so the checks
# hold either way: every trial ends with a verdict, and the end says what was found, with a
# written case and its replay when something broke.
seed=${READERLAB_FUZZ_GUEST_SEED:-2}
runs=2
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d /tmp/readerlab-fuzz-guest-test-XXXXXX)
trap 'rm -rf "$work"' EXIT

guest_option=()
[ -n "$guest" ] && guest_option=(--guest "$guest")
"$readerlab" fuzz --driver libccid --seed "$seed" --runs $runs "${guest_option[@]}" --out "$work/hunt" >"$work/hunt.txt" 2>&1
status=$?
cat "$work/hunt.txt"
grep -q "^readerlab fuzz: libccid, seed $seed, [0-9]* case(s), $runs trial(s) at most" "$work/hunt.txt" ||
  fail "the hunt does not announce libccid, its seed and its trials"
[ "$(grep -c '(booting the guest: first boot)' "$work/hunt.txt")" -eq 1 ] || fail "the guest was not booted exactly once first"
grep -q "^trial 1 \[pcsc/" "$work/hunt.txt" || fail "trial 1 did not run a PC/SC case"
grep -q "pcscd started" "$work/hunt/fuzz/guest/guest-console.log" 2>/dev/null || fail "the guest's console log does not show pcscd starting"
verdicts=$(grep -cE '^  (healthy|BROKE|not counted)' "$work/hunt.txt")
if [ $status -eq 0 ]; then
  [ "$verdicts" -eq $runs ] || fail "$verdicts verdict(s) for $runs trial(s)"
  grep -q "no break in $runs trial(s)" "$work/hunt.txt" || fail "exit 0 but the hunt does not say it found nothing"
elif [ $status -eq 1 ]; then
  grep -q "^readerlab fuzz: libccid broke" "$work/hunt.txt" || fail "exit 1 but no break reported"
  found=$(sed -n 's/^  case written: *//p' "$work/hunt.txt")
  [ -n "$found" ] && [ -f "$found" ] || fail "no case written (\"$found\")"
  [ -n "$found" ] && grep -q "^-- @seed: [0-9]" "$found" || fail "the written case has no @seed"
  grep -qE "^  replayed: *(breaks again|did NOT break again)" "$work/hunt.txt" || fail "the written case was not replayed"
else
  fail "readerlab fuzz --driver libccid exits $status (neither 0 nor 1)"
fi
if [ $failures -eq 0 ]; then echo "fuzz guest: all checks passed"; else echo "fuzz guest: $failures check(s) failed"; exit 1; fi
