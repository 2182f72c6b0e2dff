#!/usr/bin/env bash
# readerlab run --shard K/N as a CI matrix uses it, on the RDF driver in-process and over
# usbredir (no guest): the shards of a run are disjoint and together are the unsharded run,
# their JUnit testsuites are named apart so that merged files do not collide, the reports say
# which slice they hold, and a shard no run falls to exits 0 saying so.
#   shard_test.sh READERLAB_BINARY
set -u
readerlab=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cases=(--case smclib/get-state --case smclib/power --case smclib/attributes-not-supported
       --case smclib/cert-reader --case pcsc/slow-card)
drivers=(--driver reference-rdf --driver reference-rdf-usbredir)  # 5 cases x 2 drivers: 10 runs

# run_shard NAME [--shard K/N]: exit status 0 expected; the console in $work/NAME.log.
run_shard() {
  local name=$1; shift
  "$readerlab" run "${drivers[@]}" "${cases[@]}" --seed 11 --no-traces --out "$work/$name" "$@" >"$work/$name.log" 2>&1 ||
    fail "readerlab run $* exited $?: $(tail -3 "$work/$name.log")"
}
# "classname case" of every testcase in a run's JUnit files (one per driver folder), sorted.
testcases() {
  cat "$work/$1"/reference-rdf*/junit.xml 2>/dev/null | grep -o '<testcase classname="[^"]*" name="[^"]*"' |
    sed 's/<testcase classname="\([^"]*\)" name="\([^"]*\)"/\1 \2/' | sort
}

run_shard whole
[ "$(testcases whole | wc -l)" -eq 10 ] || fail "the unsharded run has not 10 runs: $(testcases whole)"
grep -q "shard" "$work/whole.log" && fail "an unsharded run talks of shards: $(grep shard "$work/whole.log")"

together=""
for index in 1 2 3; do
  run_shard "shard$index" --shard "$index/3"
  expected_runs=$([ "$index" -eq 1 ] && echo 4 || echo 3)  # 10 runs dealt to 3 shards: 4, 3, 3
  grep -q "^shard $index of 3: $expected_runs of 10 runs$" "$work/shard$index.log" ||
    fail "shard $index/3 does not say 'shard $index of 3: $expected_runs of 10 runs': $(tail -4 "$work/shard$index.log")"
  grep -q "^seed 11 (readerlab run --seed 11 --shard $index/3 replays this shard)$" "$work/shard$index.log" ||
    fail "shard $index/3 does not print the run's seed with the shard: $(tail -4 "$work/shard$index.log")"
  [ "$(testcases "shard$index" | wc -l)" -eq "$expected_runs" ] ||
    fail "shard $index/3 ran $(testcases "shard$index" | wc -l) cases, not $expected_runs"
  grep -q "^- shard $index of 3: $expected_runs of 10 runs" "$work/shard$index/reference-rdf/report.md" ||
    fail "shard $index/3's report.md does not say which slice it holds"
  grep -q "^shard $index of 3: $expected_runs of 10 runs" "$work/shard$index/report.md" ||
    fail "shard $index/3's side-by-side report.md does not say which slice it holds"
  for file in "$work/shard$index/junit.xml" "$work/shard$index"/reference-rdf*/junit.xml; do
    names=$(grep -o '<testsuite name="[^"]*"' "$file")
    grep -v -q "(shard $index/3)\"$" <<<"$names" && fail "$file has a testsuite not named for shard $index/3: $names"
    grep -q '<property name="shard" value="'"$index"'/3"/>' "$file" || fail "$file has no shard property"
  done
  together+=$(testcases "shard$index")$'\n'
done
together=$(grep -v '^$' <<<"$together" | sort)
duplicates=$(uniq -d <<<"$together")
[ -z "$duplicates" ] || fail "a case ran in two shards: $duplicates"
[ "$together" = "$(testcases whole)" ] ||
  fail "the shards together are not the unsharded run: $(diff <(testcases whole) <(echo "$together"))"
# The testsuites of the three shards' merged files are all different.
merged=$(cat "$work"/shard?/junit.xml | grep -o '<testsuite name="[^"]*"' | sort)
[ -z "$(uniq -d <<<"$merged")" ] || fail "merged shards repeat a testsuite name: $merged"

# Of 10 runs dealt to 6 shards, shard 6 gets run 5 only: reference-rdf-usbredir's first case.
# The driver it has nothing of is skipped: no folder, no testsuite.
run_shard sixth --shard 6/6
[ "$(testcases sixth)" = "reference-rdf-usbredir pcsc/slow-card" ] ||
  fail "shard 6/6 did not run reference-rdf-usbredir's first case alone: $(testcases sixth)"
[ -e "$work/sixth/reference-rdf" ] && fail "shard 6/6 wrote reports for reference-rdf, which it had no run of"
grep -q "^readerlab run: reference-rdf," "$work/sixth.log" && fail "shard 6/6 started reference-rdf with no run of it"

# A shard beyond the number of runs: nothing to run is no failure, and it says so.
out=$("$readerlab" run --driver reference-rdf --case smclib/get-state --shard 2/2 --out "$work/empty" 2>&1)
status=$?
[ $status -eq 0 ] || fail "an empty shard exits $status, not 0: $out"
grep -q "nothing to run in shard 2/2: the whole run has 1 run(s), fewer than 2 shards" <<<"$out" ||
  fail "an empty shard does not say plainly that it has nothing to run: $out"
[ -e "$work/empty/junit.xml" ] && fail "an empty shard wrote a junit.xml"
# The run itself having no case stays a usage error, sharded or not.
out=$("$readerlab" run --driver libccid --case smclib/get-state --shard 1/2 --out "$work/none" 2>&1)
status=$?
[ $status -eq 2 ] || fail "a sharded run with no case for its driver exits $status, not 2: $out"

if [ $failures -eq 0 ]; then echo "shard: all checks passed"; exit 0; fi
exit 1
