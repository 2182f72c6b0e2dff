#!/usr/bin/env bash
# The command line as a user meets it: every command answers --help with exit 0; a usage
# error is one line naming the option, exit 2; unknown cards, cases and drivers are refused at
# once, before any guest boots; and --seed replays a run (GET CHALLENGE bytes and math.random
# of a case on the reference RDF driver in-process, which needs no guest).
#   cli_test.sh READERLAB_BINARY
set -u
readerlab=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for command in "" run serve guest "guest build" "guest shell" atr cards cases; do
  # shellcheck disable=SC2086
  out=$("$readerlab" $command --help 2>&1); status=$?
  [ $status -eq 0 ] || fail "readerlab $command --help exits $status, not 0"
  grep -q "Usage: readerlab" <<<"$out" || fail "readerlab $command --help prints no usage: $out"
done
"$readerlab" run --help | grep -q -- "--driver" || fail "run --help does not list --driver"
"$readerlab" run --help | grep -q -- "--shard K/N" || fail "run --help does not list --shard"
"$readerlab" guest build --help | grep -q -- "--agent" || fail "guest build --help does not list --agent"
"$readerlab" guest shell --help | grep -q -- "--guest" || fail "guest shell --help does not list --guest"

# usage_error EXPECTED_TEXT ARGS...: exit 2, one line on stderr naming what was wrong, nothing
# booted (well under the guest's boot time) and nothing on stdout.
usage_error() {
  local expected=$1; shift
  local started=$SECONDS err
  err=$(timeout 20 "$readerlab" "$@" 2>&1 >/dev/null </dev/null); local status=$?
  [ $status -eq 2 ] || fail "readerlab $* exits $status, not 2 ($err)"
  [ "$(wc -l <<<"$err")" -eq 1 ] || fail "readerlab $* prints more than one line: $err"
  grep -qF -- "$expected" <<<"$err" || fail "readerlab $* does not say '$expected': $err"
  [ $((SECONDS - started)) -le 3 ] || fail "readerlab $* took $((SECONDS - started)) s to refuse"
}
usage_error "--seed: 'abc' is not a seed" run --seed abc
usage_error "--seed: '-3' is not a seed" run --seed -3
usage_error "--driver: unknown driver 'no-such-driver'" run --driver no-such-driver
usage_error "--case: no case 'no/such-case'" run --case no/such-case
usage_error "--card: unknown card 'no-such-card'" guest shell --card no-such-card -- true
usage_error "--card: unknown card 'no-such-card'" serve --listen 127.0.0.1:0 --card no-such-card
usage_error "--listen" serve --listen nowhere
# The Windows guest's options, checked before anything boots.
usage_error "--guest: windows needs --image FILE" run --guest windows
usage_error "--image: is the Windows guest's image: add --guest windows" run --image /etc/hostname
usage_error "--driver: windows runs in the Windows guest" run --driver windows
usage_error "no such disk image" run --guest windows --image /no/such/windows.qcow2
usage_error "--guest: windows is the Windows guest; libccid runs in the Linux guest" run --guest windows --image /etc/hostname --driver libccid
usage_error "--snapshot: the image has no snapshot 'ready'" run --guest windows --image /etc/hostname --snapshot ready
usage_error "--save-snapshot: saves a cold boot" run --guest windows --image /etc/hostname --snapshot x --save-snapshot /tmp/x.qcow2
usage_error "--bogus" run --bogus
usage_error "--driver: all stands alone" run --driver all --driver libccid
usage_error "--shard: '0/2': shards count from 1" run --shard 0/2
usage_error "--shard: '3/2': there are only 2 shards" run --shard 3/2
usage_error "--shard: 'a/b' is not K/N" run --shard a/b
usage_error "--shard: '1/0': N is 0" run --shard 1/0
usage_error "--shard: '2' is not K/N" run --shard 2
usage_error "--shard" run --shard 1/2 --shard 2/2
usage_error "--out" run --out
usage_error "unknown command 'frobnicate'" frobnicate
usage_error "unknown command 'frobnicate'" guest frobnicate
usage_error "HEX: column" atr 3B 0
usage_error "'--'" cases -- ls
usage_error "--timeout" guest shell --timeout 0 -- true
usage_error "--reader" guest shell --reader no-such-reader -- true
usage_error "--describe: unknown card 'no-such-card'" cards --describe no-such-card
usage_error "--deb" guest build --deb /no/such/file.deb

# cards --describe reads the card model: the ATR decoded, the tree with AIDs, the PIN counter.
described=$("$readerlab" cards --describe t0-basic) || fail "cards --describe t0-basic failed"
grep -q "^ATR (cold reset): 3B 0A 80 58 74 30 2D 62 61 73 69 63$" <<<"$described" || fail "no t0-basic ATR: $described"
grep -q "^protocols the card accepts: T=0$" <<<"$described" || fail "no protocols: $described"
grep -q "DF 5000 \"records\", AID F07265616465726C616202" <<<"$described" || fail "no DF 5000 with its AID: $described"
grep -q "^PIN \"1234\", reference 80, 3 tries left$" <<<"$described" || fail "no PIN counter: $described"

# --seed replays a run: a case in a tree of its own (READERLAB_HOME) prints what a card and
# math.random gave it, on the reference RDF driver in-process.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/conformance/cases/seed" "$home/conformance/expectations"
cat >"$home/conformance/cases/seed/draws.lua" <<'EOF'
-- @title: what the run's seed gives: GET CHALLENGE bytes and math.random
-- @drivers: reference-rdf
local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
print("challenge " .. pcsc.transmit(card, protocol, "0084000008"))
print("random " .. math.random(0, 1 << 50))
pcsc.disconnect(card)
pcsc.release(context)
EOF
draws() {  # draws OUT_DIR [--seed N]: the case's printed lines
  local out=$1; shift
  READERLAB_HOME=$home "$readerlab" run --driver reference-rdf --case seed/draws --out "$home/$out" "$@" \
    >"$home/$out.log" 2>&1 || fail "readerlab run $* failed: $(tail -3 "$home/$out.log")"
  grep -oE "(challenge|random) [0-9A-Fa-f]+" "$home/$out/junit.xml"
}
first=$(draws first --seed 7)
grep -q "^challenge [0-9A-Fa-f]\{20\}$" <<<"$first" || fail "no GET CHALLENGE answer in the case's output: $first"
grep -q "^random [0-9]\+$" <<<"$first" || fail "no math.random value in the case's output: $first"
[ "$(draws again --seed 7)" = "$first" ] || fail "the same seed gave other bytes: $first / $(draws again2 --seed 7)"
other=$(draws other --seed 8)
[ "$(grep challenge <<<"$other")" != "$(grep challenge <<<"$first")" ] || fail "seeds 7 and 8 gave the same challenge"
[ "$(grep random <<<"$other")" != "$(grep random <<<"$first")" ] || fail "seeds 7 and 8 gave the same math.random"
# Without --seed one is drawn, printed, and replays the run when given back.
drawn=$(draws drawn)
seed=$(grep -oE "^seed [0-9]+" "$home/drawn.log" | cut -d' ' -f2)
[ -n "$seed" ] || fail "a run without --seed does not print the seed it drew"
grep -q "seed: $seed" "$home/drawn/report.md" || fail "report.md does not carry the seed $seed"
[ "$(draws replayed --seed "$seed")" = "$drawn" ] || fail "--seed $seed did not replay the run that drew it"

if [ $failures -eq 0 ]; then echo "cli: all checks passed"; exit 0; fi
exit 1
