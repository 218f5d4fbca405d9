#!/usr/bin/env bash
# Install dependencies, build with warnings as errors, run every test; then build again
# with AddressSanitizer + UndefinedBehaviorSanitizer and run the whole suite there too;
# then run every libFuzzer target on its seed corpus, sharing 120 s of wall time (scripts/fuzz.sh;
# TRISA_FUZZ_SECONDS=N gives each target N seconds instead).
# TRISA_SKIP_SANITIZERS=1 / TRISA_SKIP_FUZZ=1 leave a pass out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DTRISA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

if [ "${TRISA_SKIP_SANITIZERS:-0}" != 1 ]; then
    cmake -S . -B build-asan -DTRISA_SANITIZE=ON -DTRISA_WERROR=ON -DCMAKE_BUILD_TYPE=Debug
    cmake --build build-asan -j"$jobs"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi

if [ "${TRISA_SKIP_FUZZ:-0}" != 1 ]; then
    if [ -n "${TRISA_FUZZ_SECONDS:-}" ]; then
        bash scripts/fuzz.sh --seconds "$TRISA_FUZZ_SECONDS"
    else
        bash scripts/fuzz.sh
    fi
fi
