#!/usr/bin/env bash
# readerlab run --jobs N on the RDF driver in-process and over usbredir (no guest): N jobs of
# each driver run at once, each with a driver instance of its own, a free job taking the next run, and
# the reports are those of a run without --jobs: every case once per driver, in the run's
# order, with the same verdicts; the console says which job each line is from, the report how
# many jobs ran; a --jobs out of range is a usage error.
#   jobs_test.sh READERLAB_BINARY
set -u
readerlab=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cases=(--case smclib/get-state --case smclib/power --case smclib/attributes-not-supported
       --case smclib/cert-reader --case pcsc/slow-card --case pcsc/swap --case faults/ccid-errors)
drivers=(--driver reference-rdf --driver reference-rdf-usbredir)  # 7 cases x 2 drivers: 14 runs

run() {
  local name=$1; shift
  "$readerlab" run "${drivers[@]}" "${cases[@]}" --seed 11 --no-traces --out "$work/$name" "$@" >"$work/$name.log" 2>&1 ||
    fail "readerlab run $* exited $?: $(tail -3 "$work/$name.log")"
}
# "classname case" of every testcase of a run, driver after driver, in the files' order.
testcases() {
  local driver
  for driver in reference-rdf reference-rdf-usbredir; do
    grep -o '<testcase classname="[^"]*" name="[^"]*"' "$work/$1/$driver/junit.xml" |
      sed 's/<testcase classname="\([^"]*\)" name="\([^"]*\)"/\1 \2/'
  done
}
# "case OUTCOME" of the console's closing tables, driver after driver.
verdicts() { awk '/^== /{table=1; print; next} table && NF >= 2 && $2 ~ /^(PASS|FAIL|XFAIL|XPASS|SKIP)$/ {print $1, $2}' "$work/$1.log"; }

run serial
run jobs --jobs 4
[ "$(testcases serial | wc -l)" -eq 14 ] || fail "the run without --jobs has not 14 runs: $(testcases serial)"
[ "$(testcases jobs)" = "$(testcases serial)" ] ||
  fail "--jobs 4 did not give the same runs in the same order: $(diff <(testcases serial) <(testcases jobs))"
[ "$(verdicts serial | wc -l)" -eq 16 ] || fail "the console tables of the run without --jobs: $(verdicts serial)"
[ "$(verdicts jobs)" = "$(verdicts serial)" ] ||
  fail "--jobs 4 did not give the same verdicts in the same order: $(diff <(verdicts serial) <(verdicts jobs))"
grep -q "^14 passed, 0 failed$" "$work/jobs.log" || fail "--jobs 4 does not end '14 passed, 0 failed': $(tail -3 "$work/jobs.log")"
# Each run once, on one of the 4 jobs; each progress line names its driver and job, and the
# case's place in the driver's run.
for driver in reference-rdf reference-rdf-usbredir; do
  lines=$(grep -E "^$driver job [1-4] \[[1-7]/7\] " "$work/jobs.log")
  [ "$(echo "$lines" | wc -l)" -eq 7 ] || fail "$driver printed not 7 progress lines with a job tag: $lines"
  for place in 1 2 3 4 5 6 7; do
    [ "$(echo "$lines" | grep -c "\[$place/7\]")" -eq 1 ] || fail "$driver's run $place/7 was not printed once: $lines"
  done
done
grep -q "up to 4 jobs at once" "$work/jobs.log" || fail "the console does not say the run uses 4 jobs"
grep -q "jobs.*4 at once (readerlab run --jobs 4," "$work/jobs/reference-rdf/report.md" ||
  fail "reference-rdf's report.md does not say 4 jobs ran"
grep -q "jobs" "$work/serial/reference-rdf/report.md" && fail "a run without --jobs reports jobs"

# A job that is free takes the next run: while one job runs a 6-second case, the other runs every
# other case (dealt in turn, the slow case's job would have had every other run).
"$readerlab" run --driver reference-rdf --case pcsc/slow-card-timing --case smclib/get-state --case smclib/power \
  --case smclib/attributes-not-supported --case smclib/cert-reader --jobs 2 --no-traces --out "$work/queue" \
  >"$work/queue.log" 2>&1 || fail "--jobs 2 with a slow case exited $?: $(tail -3 "$work/queue.log")"
slow_job=$(sed -n 's/^job \([12]\) \[1\/5\] pcsc\/slow-card-timing .*/\1/p' "$work/queue.log")
if [ -z "$slow_job" ]; then
  fail "no progress line for pcsc/slow-card-timing: $(cat "$work/queue.log")"
else
  [ "$(grep -c "^job $slow_job \[" "$work/queue.log")" -eq 1 ] ||
    fail "the job that ran the slow case ran more while the other job was free: $(grep "^job " "$work/queue.log")"
  [ "$(grep -c "^job $((3 - slow_job)) \[" "$work/queue.log")" -eq 4 ] ||
    fail "the other job did not run the 4 other cases: $(grep "^job " "$work/queue.log")"
fi

# One driver with more jobs than runs: every run on a job of its own, the rest unused.
"$readerlab" run --driver reference-rdf --case smclib/get-state --case smclib/power --jobs 16 --out "$work/few" \
  >"$work/few.log" 2>&1 || fail "--jobs 16 with 2 runs exited $?: $(tail -3 "$work/few.log")"
grep -q "^2 passed, 0 failed$" "$work/few.log" || fail "--jobs 16 with 2 runs: $(tail -3 "$work/few.log")"

for bad in 0 17 x; do
  out=$("$readerlab" run --driver reference-rdf --jobs "$bad" --out "$work/bad" 2>&1)
  status=$?
  [ $status -eq 2 ] || fail "--jobs $bad exits $status, not 2 (a usage error): $out"
  [ -e "$work/bad" ] && fail "--jobs $bad ran something"
done

if [ $failures -eq 0 ]; then
  echo "jobs: all checks passed"
else
  echo "jobs: $failures check(s) failed"
  exit 1
fi
