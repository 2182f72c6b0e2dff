#!/usr/bin/env bash
# Runs every fuzz target long, one after the other (single process each, so it shares the
# machine politely), each for SECONDS (default 300), growing a corpus per target outside the
# source tree: build-fuzz/fuzz/long-corpus/<target>/ (seeded from fuzz/corpus/<target>/).
# Crash files land in build-fuzz/fuzz/long-artifacts/. Prints executions, exec/s, corpus size
# and coverage per target, and a table at the end.
#   fuzz/run.sh [SECONDS] [TARGET...]      (builds build-fuzz first if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
build=${READERLAB_FUZZ_BUILD:-build-fuzz}

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DREADERLAB_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" >/dev/null

manifest=$build/fuzz/targets.txt
work=$build/fuzz
mkdir -p "$work/long-artifacts"
summary=()
status=0
while IFS='|' read -r name binary dict max_len; do
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  corpus=$work/long-corpus/$name
  mkdir -p "$corpus"
  log=$work/long-$name.log
  options=(-max_total_time="$seconds" -max_len="$max_len" -timeout=25 -rss_limit_mb=2048
           -print_final_stats=1 -artifact_prefix="$work/long-artifacts/$name-")
  [ -n "$dict" ] && options+=(-dict="$dict")
  echo "== $name for $seconds s (log $log)"
  if ! "$binary" "${options[@]}" "$corpus" fuzz/corpus/"$name" >"$log" 2>&1; then
    status=1
    echo "   $name FAILED: see $log and $work/long-artifacts/"
  fi
  # The last status line: "#N ... cov: C ft: F corp: U/SIZE ... exec/s: E ..."
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log")
  rate=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  line=$(printf '%-22s %12s %8s %6s %7s %14s' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  echo "   $line"
  summary+=("$line")
done <"$manifest"

printf '\n%-22s %12s %8s %6s %7s %14s\n' target executions exec/s cov ft corpus
printf '%s\n' "${summary[@]}"
exit $status
