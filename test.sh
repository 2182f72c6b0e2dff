#!/usr/bin/env bash
# The test suite: installs what is missing, builds, and runs every test with ctest, the
# guest tests (label vm) included, and the line coverage of the smclib model and the
# reference RDF driver (label coverage). A second build under ASan + UBSan runs the tests that
# do not boot the guest. A third, with clang, builds the libFuzzer targets of fuzz/ alone and
# runs each for a bounded number of executions on its corpus (label fuzz; fuzz/run.sh runs
# them long). A fourth cross-compiles the Windows side with mingw-w64 (cross/windows:
# readerlab-agent.exe, and the reference RDF driver as readerlab_reference_rdf.sys) and runs
# what runs here: the agent under Wine, the checks of the driver's image. In CI (CI=true)
# warnings are errors (the fuzz build excepted: clang's warnings differ from the compiler the
# project is kept clean with).
set -euo pipefail
cd "$(dirname "$0")"
tools/install-deps.sh all
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREADERLAB_WERROR=$werror -DREADERLAB_COVERAGE=ON >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DREADERLAB_SANITIZE=ON -DREADERLAB_WERROR=$werror >/dev/null
cmake --build build-asan -j"$jobs"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DREADERLAB_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
cmake -S cross/windows -B build-windows -DCMAKE_TOOLCHAIN_FILE="$PWD/cross/windows/mingw-w64-x86_64.cmake" \
      -DREADERLAB_WERROR=$werror >/dev/null
cmake --build build-windows -j"$jobs"

status=0
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE vm) || status=1
(cd build && ctest --output-on-failure -j"$jobs") || status=1
(cd build-fuzz && ctest --output-on-failure -j"$jobs" -L fuzz) || status=1
(cd build-windows && ctest --output-on-failure -j"$jobs") || status=1
exit $status
