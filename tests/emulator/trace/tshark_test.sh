#!/usr/bin/env bash
# A run's USB traces as a driver engineer opens them: `readerlab run` on the reference RDF driver
# (on the host, no guest), in-process and over usbredir, writes a pcap per case and reader that
# Debian's tshark reads without options, with the CCID messages decoded by its usbccid dissector
# and, with the payload decoded as ISO 7816, the APDUs' CLA/INS and the status words; the
# reports link each case's trace; --no-traces writes none; an --out whose traces folder cannot
# be made gives one warning and the run still passes.
#   tshark_test.sh READERLAB_BINARY [DRIVER...]   (default: the reference RDF driver in-process and
#   over usbredir; `libccid` checks a trace of the guest's pcscd + libccid as ./run.sh runs it)
set -u
readerlab=$1
shift
drivers=("$@")
[ ${#drivers[@]} -gt 0 ] || drivers=(reference-rdf reference-rdf-usbredir)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
command -v tshark >/dev/null || { echo "FAIL: tshark is not installed (tools/install-deps.sh)"; exit 1; }
work=$(mktemp -d /tmp/readerlab-tshark-XXXXXX)
trap 'rm -rf "$work"' EXIT
case_id=pcsc/connect-t1-select

for driver in "${drivers[@]}"; do
  out=$work/$driver
  # libccid as ./run.sh runs it: on the reader profiles, readerlab's own reader in its column.
  reader_options=()
  [ "$driver" = libccid ] && reader_options=(--reader readerlab)
  "$readerlab" run --driver "$driver" "${reader_options[@]}" --case "$case_id" --seed 7 --out "$work/$driver" \
    >"$work/$driver.log" 2>&1 || fail "$driver: the run failed: $(tail -5 "$work/$driver.log")"
  [ "$driver" = libccid ] && out=$work/$driver/libccid@readerlab
  pcap=$out/traces/$case_id/reader1.pcap
  [ -s "$pcap" ] || { fail "$driver: no trace at $pcap"; continue; }

  # Without options: the usb dissector learns the CCID interface from the GET_DESCRIPTOR exchange.
  fields=$(tshark -r "$pcap" -Y usbccid -T fields -E separator=' ' \
             -e usbccid.bMessageType -e usbccid.dwLength -e usbccid.bSeq 2>"$work/tshark.err") ||
    fail "$driver: tshark cannot read the trace: $(cat "$work/tshark.err")"
  # PC_to_RDR_IccPowerOn (0x62) and its RDR_to_PC_DataBlock (0x80) with the t1-fs card's ATR.
  grep -q '^0x62 0 ' <<<"$fields" || fail "$driver: no PC_to_RDR_IccPowerOn decoded: $fields"
  # The SELECT by AID: a PC_to_RDR_XfrBlock (0x6f) of 5 + 11 + 1 bytes.
  grep -q '^0x6f 17 ' <<<"$fields" || fail "$driver: no 17-byte PC_to_RDR_XfrBlock decoded: $fields"
  grep -q '^0x80 ' <<<"$fields" || fail "$driver: no RDR_to_PC_DataBlock decoded: $fields"

  # The payload as ISO 7816 (Wireshark: Decode As, USB CCID payload): the APDUs and their answers.
  apdus=$(tshark -r "$pcap" -d usbccid.subdissector,iso7816 -Y 'iso7816.apdu.ins || iso7816.apdu.sw1' -T fields \
            -E separator=' ' -e usbccid.bMessageType -e iso7816.apdu.cla -e iso7816.apdu.ins -e iso7816.apdu.sw1 \
            -e iso7816.apdu.sw2 2>/dev/null)
  grep -q '^0x6f 0x00 0xa4 *$' <<<"$apdus" || fail "$driver: no SELECT (CLA 00, INS A4) decoded: $apdus"
  grep -q '^0x80 *0x90 0x00$' <<<"$apdus" || fail "$driver: no 9000 answer decoded: $apdus"
  grep -q '^0x80 *0x6a 0x82$' <<<"$apdus" || fail "$driver: no 6A82 answer (unknown AID) decoded: $apdus"

  # Every submission has its completion: as many 'C' as 'S' records, bulk and control alike,
  # except the one interrupt-IN request still waiting for a slot change.
  submitted=$(tshark -r "$pcap" -Y 'usb.urb_type == 0x53' 2>/dev/null | wc -l)
  completed=$(tshark -r "$pcap" -Y 'usb.urb_type == 0x43' 2>/dev/null | wc -l)
  [ "$submitted" -gt 10 ] && [ $((submitted - completed)) -le 1 ] && [ $((submitted - completed)) -ge 0 ] ||
    fail "$driver: $submitted submissions, $completed completions"

  grep -qF "[reader1.pcap](traces/$case_id/reader1.pcap)" "$out/report.md" ||
    fail "$driver: report.md does not link the trace"
  grep -qF "<property name=\"trace\" value=\"traces/$case_id/reader1.pcap\"/>" "$out/junit.xml" ||
    fail "$driver: junit.xml does not name the trace"
done

# --no-traces: no traces folder, no links.
out=$work/off
"$readerlab" run --driver reference-rdf --case "$case_id" --seed 7 --out "$out" --no-traces >/dev/null 2>&1 ||
  fail "--no-traces: the run failed"
[ ! -e "$out/traces" ] || fail "--no-traces still wrote $(find "$out/traces" -type f | head -3)"
grep -q 'reader1.pcap' "$out/report.md" && fail "--no-traces: report.md links a trace"

# A traces folder that cannot be made (a file is in its place): one warning, the run passes.
out=$work/blocked
mkdir -p "$out" && : >"$out/traces"
"$readerlab" run --driver reference-rdf --case "$case_id" --case pcsc/get-attrib --seed 7 --out "$out" \
  >"$work/blocked.log" 2>"$work/blocked.err" || fail "an unusable traces folder failed the run: $(cat "$work/blocked.err")"
[ "$(grep -c 'warning' "$work/blocked.err")" -eq 1 ] || fail "not one warning: $(cat "$work/blocked.err")"

[ $failures -eq 0 ] && echo "trace: all checks passed"
exit $((failures > 0))
