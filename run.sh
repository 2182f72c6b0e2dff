#!/usr/bin/env bash
# The main job: installs what is missing, builds readerlab and the Linux guest, boots it
# under QEMU with a virtual CCID reader and runs the conformance cases through the guest's
# pcscd + libccid, then through the smclib model and the reference RDF driver on the host
# (in-process and over usbredir). libccid runs on the representative reader profiles (the
# handful `readerlab readers` marks +; --reader all is the whole matrix).
# Eight jobs at once (eight guests, each job taking the next run when it is free; the guests
# mostly wait, so two cores carry them; READERLAB_JOBS=N for another count, 1: one after another),
# each guest starting from a VM state saved after the first boot (--saved-state).
# Reports: out/junit.xml, out/report.md (side by side).
# Extra arguments go to `readerlab run`.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-deps.sh build && tools/install-deps.sh guest  # not the Windows side: its cross builds and Wine are for ./test.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target readerlab
build/bin/readerlab guest build
exec build/bin/readerlab run --driver all --reader representative --jobs "${READERLAB_JOBS:-8}" --saved-state --out out "$@"
