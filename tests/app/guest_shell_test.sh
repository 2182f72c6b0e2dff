#!/usr/bin/env bash
# readerlab guest shell as a user types into it (issue 12 item 6): lines fed one by one through a
# pipe that stays open, with pauses; each must act before the next is written. pcsc_scan runs in
# the background while the card is removed and another inserted; every command's exit code is
# printed; --timeout kills a command and says so; the log folder is printed first; 'reader NAME'
# turns the reader into a reader profile's model.
# Then SIGTERM to readerlab (guest shell, and readerlab run, which boots the guest the same way)
# stops its QEMU and removes its socket folder before readerlab ends, with exit status 143
# (128 + SIGTERM).
#   guest_shell_test.sh READERLAB_BINARY GUEST_DIR   (a guest built with --with pcsc-tools)
set -u
readerlab=$1
guest=$2
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

work=$(mktemp -d)
shell_pid=""
trap '[ -n "$shell_pid" ] && kill $shell_pid 2>/dev/null; rm -rf "$work"' EXIT
mkfifo "$work/in"
"$readerlab" guest shell --guest "$guest" --out "$work/logs" --timeout 10 <"$work/in" >"$work/out" 2>"$work/err" &
shell_pid=$!
exec 3>"$work/in"

# wait_for FILE TEXT SECONDS: until FILE holds TEXT (a fixed string).
wait_for() {
  local waited=0
  while ! grep -qF -- "$2" "$1"; do
    sleep 1
    waited=$((waited + 1))
    if [ $waited -ge "$3" ] || ! kill -0 $shell_pid 2>/dev/null; then
      fail "no '$2' in $(basename "$1") within $waited s"
      return 1
    fi
  done
}

wait_for "$work/err" "logs: $work/logs" 10
echo 'pcsc_scan -n &' >&3
# The guest boots (slowly under TCG), then pcsc_scan reports the card while stdin stays open.
wait_for "$work/out" "Card inserted" 400
echo 'remove' >&3
wait_for "$work/out" "Card removed" 60
echo 'echo 0084000008 | scriptor' >&3
wait_for "$work/err" "[exit" 60
echo 'insert t0-basic' >&3
wait_for "$work/out" "3B 0A 80 58 74 30 2D 62 61 73 69 63" 60
echo 'false' >&3
echo 'sleep 100' >&3
wait_for "$work/err" "timed out after 10 s" 60
# Another reader model (a reader profile): the reader leaves and comes back as an OMNIKEY 3x21,
# which pcscd names from its USB strings.
echo 'reader omnikey-3x21' >&3
wait_for "$work/err" "(reader is now omnikey-3x21" 30
wait_for "$work/out" "Reader 0: HID Global OMNIKEY 3x21 Smart Card Reader (RL0001)" 60
exec 3>&-
wait $shell_pid
status=$?
shell_pid=""
cat "$work/err"
echo "---- output"
cat "$work/out"

grep -q "^reader: readerlab Virtual CCID Reader .* (card present)$" "$work/err" || fail "the reader's readiness is not printed"
grep -q "^\[1\] pcsc_scan -n &$" "$work/err" || fail "the background command is not announced"
grep -q "^(reader: remove done)$" "$work/err" || fail "remove is not acknowledged"
# scriptor without a card fails, and its exit code shows.
grep -A30 "^guest\$ echo 0084000008 | scriptor$" "$work/err" | grep -Eq "^\[exit [1-9][0-9]*\]$" ||
  fail "scriptor without a card does not print a failing exit code"
grep -q "^guest\$ false$" "$work/err" && grep -A1 "^guest\$ false$" "$work/err" | grep -q "^\[exit 1\]$" ||
  fail "false does not print [exit 1]"
grep -q "^\[exit 124\]$" "$work/err" || fail "the command killed by --timeout does not print exit 124"
grep -q "^\[1\] still running, stopped with the guest: pcsc_scan -n$" "$work/err" ||
  fail "pcsc_scan still running at the end is not reported"
[ $status -eq 124 ] || fail "guest shell exits $status, not 124 (the last failing command's status)"
[ -s "$work/logs/pcscd.log" ] || fail "no pcscd.log in the printed log folder"
# qemu_of DIR: the pids of QEMU processes whose command line names DIR (the run's log folder).
qemu_of() { pgrep -f -- "qemu-system-x86_64 .*$1/" || true; }
[ -z "$(qemu_of "$work/logs")" ] || fail "QEMU still runs after guest shell ended (standard input closed)"

# stop_by_sigterm NAME STREAM READY_TEXT COMMAND...: starts readerlab (its --out is $work/NAME),
# waits for READY_TEXT in its STREAM (out or err), sends it SIGTERM, and checks its exit status,
# its QEMU and its socket folder.
stop_by_sigterm() {
  local name=$1 stream=$2 ready=$3 out=$work/$1
  shift 3
  "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  shell_pid=$!
  wait_for "$work/$name.$stream" "$ready" 400 || return
  local qemu
  qemu=$(qemu_of "$out")
  [ -n "$qemu" ] || fail "$name: no QEMU with $out in its command line"
  # The usbredir sockets' folder, from QEMU's command line (path=/tmp/readerlab-XXXXXX/reader1.sock).
  local sockets
  sockets=$(tr '\0' ' ' </proc/"${qemu%%$'\n'*}"/cmdline | grep -o 'path=[^,]*/reader1.sock' | head -1)
  sockets=$(dirname "${sockets#path=}")
  kill -TERM $shell_pid
  wait $shell_pid
  local status=$?
  shell_pid=""
  [ $status -eq 143 ] || fail "$name: readerlab exits $status after SIGTERM, not 143 (128 + SIGTERM)"
  [ -z "$(qemu_of "$out")" ] || fail "$name: QEMU still runs after readerlab got SIGTERM: $(qemu_of "$out")"
  [ -n "$sockets" ] && [ ! -e "$sockets" ] || fail "$name: the socket folder '$sockets' is left behind"
  grep -q "^readerlab: SIGTERM: QEMU (pid [0-9]*) stopped$" "$work/$name.err" ||
    fail "$name: readerlab does not say it stopped QEMU"
}
stop_by_sigterm shell-sigterm err 'guest$ sleep 1000' \
  "$readerlab" guest shell --guest "$guest" --out "$work/shell-sigterm" --card none -- 'sleep 1000'
stop_by_sigterm run-sigterm out 'guest up' \
  "$readerlab" run --guest "$guest" --out "$work/run-sigterm" --driver libccid --case pcsc/apdu-1000
cat "$work/shell-sigterm.err" "$work/run-sigterm.err"

if [ $failures -eq 0 ]; then echo "guest shell: all checks passed"; exit 0; fi
exit 1
