#!/usr/bin/env bash
# readerlab run --fresh-guest on libccid: every case runs in a guest of its own restored from the
# VM state saved after the first boot (--saved-state), so that no case meets another's leftovers;
# each case's guest logs are kept apart; the reader is plugged into each restored guest, which
# sees it as a fresh device.
#   fresh_guest_test.sh READERLAB_BINARY
set -u
readerlab=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$readerlab" run --driver libccid --fresh-guest --case pcsc/removal --case pcsc/swap --case pcsc/unplug-replug \
  --seed 5 --out "$work/out" >"$work/run.log" 2>&1 || fail "readerlab run --fresh-guest exited $?: $(tail -5 "$work/run.log")"
grep -q "3 passed, 0 failed" "$work/run.log" || fail "not every case passed: $(tail -12 "$work/run.log")"
grep -q "a fresh one for every case" "$work/out/report.md" || fail "the report does not say how the guests started"
for case_id in pcsc/removal pcsc/swap pcsc/unplug-replug; do
  logs="$work/out/guest-logs/$case_id"
  [ -s "$logs/pcscd.log" ] || fail "$case_id: no pcscd.log of its own in $logs"
  grep -q "restored the saved state .*, then plugged in 1 reader" "$logs/readerlab.log" 2>/dev/null ||
    fail "$case_id: its guest was not restored from the saved state: $(cat "$logs/readerlab.log" 2>/dev/null)"
  # A restored guest's pcscd opens the reader anew: the case's own log shows it added.
  grep -q "HPAddDevice" "$logs/pcscd.log" 2>/dev/null || fail "$case_id: pcscd did not add the reader afresh"
done
ls "$(dirname "$readerlab")/../guest/saved-states/"*.state >/dev/null 2>&1 || fail "no saved state in the guest's folder"

if [ "$failures" -eq 0 ]; then echo "fresh guest: all checks passed"; else echo "fresh guest: $failures check(s) failed"; exit 1; fi
