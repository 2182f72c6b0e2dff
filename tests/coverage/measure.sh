#!/usr/bin/env bash
# Line coverage of the smclib model and the reference RDF driver: runs their unit tests and
# the host conformance cases (in-process and over usbredir) on fresh counters, then gcovr.
#   measure.sh BUILD_DIR SOURCE_DIR MIN_PERCENT
set -euo pipefail
build=$1 source=$2 floor=$3
command -v gcovr >/dev/null || { echo "gcovr is missing: apt-get install gcovr" >&2; exit 1; }
find "$build" -name '*.gcda' -delete
"$build/bin/tests_hosts_windows_model_smclib" >/dev/null
"$build/bin/tests_hosts_windows_model_rdf" >/dev/null
"$build/bin/tests_drivers_under_test_reference_rdf" >/dev/null
"$build/bin/readerlab" run --driver reference-rdf --driver reference-rdf-usbredir --out "$build/coverage-out" >/dev/null || true
report=$(gcovr --root "$source" --object-directory "$build" \
  --filter "$source/hosts/windows_model/(smclib/src|wdm)/" --filter "$source/drivers_under_test/reference_rdf/(ccid|reference_rdf)\.cpp" \
  --txt - 2>/dev/null)
echo "$report" | tail -n 25
percent=$(echo "$report" | awk '/^TOTAL/ {gsub("%", "", $4); print $4}')
echo "line coverage of smclib + reference_rdf: ${percent}% (floor ${floor}%)"
awk -v p="$percent" -v f="$floor" 'BEGIN { exit (p + 0 >= f + 0) ? 0 : 1 }'
