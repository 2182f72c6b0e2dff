#!/usr/bin/env bash
# One fuzz target under ctest: replay the inputs that once crashed it (fuzz/regressions/),
# then a bounded run from its seed corpus, with a fixed seed so that CI runs repeat. New
# inputs and crash files go to a scratch folder of the build, never into the source tree.
#   ctest_run.sh BINARY NAME FUZZ_SOURCE_DIR WORK_DIR RUNS SECONDS MAX_LEN [DICT]
set -euo pipefail
binary=$1 name=$2 source_dir=$3 work_dir=$4 runs=$5 seconds=$6 max_len=$7 dict=${8:-}

scratch=$work_dir/$name
rm -rf "$scratch"
mkdir -p "$scratch/corpus"

regressions=$source_dir/regressions/$name
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
  echo "== replaying $(ls "$regressions" | wc -l) regression input(s) of $name"
  "$binary" -rss_limit_mb=2048 -timeout=25 "$regressions"/*
fi

options=(-runs="$runs" -max_total_time="$seconds" -seed=1 -max_len="$max_len" -timeout=25
         -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/")
[ -n "$dict" ] && options+=(-dict="$dict")
echo "== $name: $runs executions (at most $seconds s) from $source_dir/corpus/$name"
exec "$binary" "${options[@]}" "$scratch/corpus" "$source_dir/corpus/$name"
