#!/usr/bin/env bash
# Checks that the C and C++ sources follow .clang-format (Debian 12's clang-format 14), or with
# --fix rewrites them in place. Prints each file that differs.
#   tools/check_format.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t sources < <(find base cards emulator scenarios hosts conformance drivers_under_test examples app \
                         tests bench fuzz/targets -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.c' \) | sort)
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${sources[@]}"
  exit 0
fi
bad=0
for file in "${sources[@]}"; do
  if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then
    echo "$file: not formatted (tools/check_format.sh --fix)"
    bad=$((bad + 1))
  fi
done
echo "${#sources[@]} files, $bad not formatted"
[ "$bad" -eq 0 ]
