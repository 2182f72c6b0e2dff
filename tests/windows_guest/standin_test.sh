#!/usr/bin/env bash
# readerlab run --guest windows, everything of it but Windows (which cannot be had here): a
# stand-in image of the Linux guest (make_standin_image.sh: a BIOS boots it, its agent on COM1)
# runs cases through the Windows guest's machine (q35, the reader on xHCI through usb-redir, the
# agent over COM1); the image is never written; --save-snapshot keeps the booted machine and a
# run with --snapshot starts from it; an image whose agent never answers fails every case with
# the reason and the guest's screen; the agent on the virtio-serial port works as on COM1.
#   standin_test.sh READERLAB_BINARY
set -u
readerlab=$1
here=$(cd "$(dirname "$0")" && pwd)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
guest="$(dirname "$readerlab")/../guest"

"$readerlab" guest build --out "$guest" >"$work/build.log" 2>&1 || fail "guest build: $(tail -3 "$work/build.log")"
"$here/make_standin_image.sh" "$guest" "$work/standin.qcow2" || fail "the stand-in image was not made"
before=$(md5sum <"$work/standin.qcow2")

# A cold boot; the machine saved once the agent answered and the reader was listed.
"$readerlab" run --guest windows --bios --image "$work/standin.qcow2" --save-snapshot "$work/ready.qcow2" \
  --boot-timeout 180 --case pcsc/connect-t1-select --case pcsc/removal --seed 7 --out "$work/cold" >"$work/cold.log" 2>&1 ||
  fail "the cold-boot run exited $?: $(tail -8 "$work/cold.log")"
grep -q "2 passed, 0 failed" "$work/cold.log" || fail "cold boot: not every case passed: $(tail -10 "$work/cold.log")"
grep -q "== windows" "$work/cold.log" || fail "cold boot: no windows column: $(tail -10 "$work/cold.log")"
grep -q "cold boot)" "$work/cold.log" || fail "cold boot: the run does not say how the guest started"
[ "$(md5sum <"$work/standin.qcow2")" = "$before" ] || fail "the image was written by the run"
[ ! -e "$work/cold/windows-disk.qcow2" ] || fail "the run's disk was left behind"
qemu-img snapshot -l "$work/ready.qcow2" 2>/dev/null | grep -q " readerlab " ||
  fail "--save-snapshot kept no snapshot 'readerlab': $(qemu-img snapshot -l "$work/ready.qcow2" 2>&1)"

# From the snapshot: the guest running in seconds, the reader attached afresh.
saved=$(md5sum <"$work/ready.qcow2")
"$readerlab" run --guest windows --bios --image "$work/ready.qcow2" --snapshot readerlab --boot-timeout 120 \
  --case pcsc/swap --case pcsc/apdu-1000 --seed 7 --out "$work/warm" >"$work/warm.log" 2>&1 ||
  fail "the snapshot run exited $?: $(tail -8 "$work/warm.log")"
grep -q "2 passed, 0 failed" "$work/warm.log" || fail "from the snapshot: not every case passed: $(tail -10 "$work/warm.log")"
grep -q "from snapshot readerlab" "$work/warm.log" || fail "the run does not say it started from the snapshot"
[ "$(md5sum <"$work/ready.qcow2")" = "$saved" ] || fail "the snapshot's image was written by the run"

# The agent on the virtio-serial port instead of COM1 (--agent-port virtio).
"$here/make_standin_image.sh" "$guest" "$work/standin-virtio.qcow2" virtio || fail "the virtio stand-in was not made"
"$readerlab" run --guest windows --bios --agent-port virtio --image "$work/standin-virtio.qcow2" --boot-timeout 180 \
  --case pcsc/connect-t1-select --seed 7 --out "$work/virtio" >"$work/virtio.log" 2>&1 ||
  fail "the virtio run exited $?: $(tail -8 "$work/virtio.log")"
grep -q "1 passed, 0 failed" "$work/virtio.log" || fail "virtio: the case did not pass: $(tail -10 "$work/virtio.log")"

# An image without an agent: every case fails with the reason, the screen kept.
qemu-img create -q -f qcow2 "$work/blank.qcow2" 16M
"$readerlab" run --guest windows --bios --image "$work/blank.qcow2" --boot-timeout 10 --case pcsc/removal \
  --out "$work/blank" >"$work/blank.log" 2>&1
status=$?
[ $status -eq 1 ] || fail "a run with no agent exited $status, not 1"
grep -q "no agent on COM1 within 10 s" "$work/blank.log" || fail "the reason is not given: $(tail -6 "$work/blank.log")"
[ -s "$work/blank/screen.ppm" ] || fail "the guest's screen was not kept"

if [ "$failures" -eq 0 ]; then echo "windows stand-in: all checks passed"; else echo "windows stand-in: $failures check(s) failed"; exit 1; fi
