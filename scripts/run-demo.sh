#!/usr/bin/env bash
# The README's main command: install the Debian packages, build, install into build/stage,
# then run the whole path on the bundled emulator (scripts/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
cmake --install build --prefix build/stage >/dev/null
exec bash scripts/demo.sh build/stage
