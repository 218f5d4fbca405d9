#!/usr/bin/env bash
# Build the libFuzzer targets (clang, the library instrumented, ASan + UBSan) and run each
# on its seed corpus (fuzz/corpus/<target>/, with fuzz/<target>.dict when there is one)
# plus a working corpus kept in the build folder between runs. Fails on any crash, leak,
# timeout or out-of-memory; the input that caused it is left in build-fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [--seconds N | --budget S] [--jobs J] [--build DIR] [TARGET...]
#   --budget S   the CI run (the default, S = 120): S seconds of wall time for all the
#                targets, J at a time, shared by weight: the targets whose inputs have the
#                most structure (HTTP requests, bundles, keys, ZIPs, configs, replies) get
#                twice the time of the small parsers, and none less than 10 s
#   --seconds N  N seconds for every target instead (1800 for the long run)
#   --jobs J     targets run side by side (default: the number of cores)
#   TARGET       fuzz_zip, fuzz_key, ... (default: every fuzz/fuzz_*.c)
# TRISA_FUZZ_SEED=N picks the mutation sequence (default 1, so that the CI run tries the
# same inputs each time on a clean checkout and a failure is one anybody can replay).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds="" budget=120 jobs=$(nproc 2>/dev/null || echo 2) build=$top/build-fuzz
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang)" >&2; exit 1; }
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$top"/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

# Weight 2: inputs with the most structure to explore (and slower executions).
weight() {
    case "$1" in
    fuzz_emulator_request|fuzz_bundle_member|fuzz_key|fuzz_zip|fuzz_csr_config|\
    fuzz_sectigo_reply|fuzz_csr_args) echo 2 ;;
    *) echo 1 ;;
    esac
}
declare -A secs
if [ -n "$seconds" ]; then
    for t in "${targets[@]}"; do secs[$t]=$seconds; done
else
    total=0
    for t in "${targets[@]}"; do total=$((total + $(weight "$t"))); done
    for t in "${targets[@]}"; do
        s=$((budget * jobs * $(weight "$t") / total))
        secs[$t]=$((s < 10 ? 10 : s))
    done
fi
# The longest first, so that the last ones to finish are short.
mapfile -t targets < <(for t in "${targets[@]}"; do echo "${secs[$t]} $t"; done | sort -rn -k1,1 |
    cut -d' ' -f2)

start=$(date +%s)
CC=clang cmake -S "$top" -B "$build" -DTRISA_BUILD_FUZZERS=ON -DTRISA_BUILD_TESTS=OFF \
    -DTRISA_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]}" >/dev/null
built=$(date +%s)

run_one() { # target
    local t=$1 work=$build/corpus/$1 art=$build/artifacts/$1 log=$build/logs/$1.log
    mkdir -p "$work" "$art" "$(dirname "$log")"
    local seeds=()
    [ -d "$top/fuzz/corpus/$t" ] && seeds=("$top/fuzz/corpus/$t")
    local dict=()
    [ -f "$top/fuzz/$t.dict" ] && dict=("-dict=$top/fuzz/$t.dict")
    # -timeout: one input may take 10 s at most (a hang is a finding, e.g. an unbounded
    # iteration count); -rss_limit_mb: 2.5 GiB; leaks are findings (LeakSanitizer).
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/fuzz/$t" -seed="${TRISA_FUZZ_SEED:-1}" -max_total_time="${secs[$t]}" \
        -timeout=10 -rss_limit_mb=2560 \
        -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "$work" "${seeds[@]}" \
        >"$log" 2>&1; then
        echo ok >"$log.result"
    else
        echo FAILED >"$log.result"
    fi
}

for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$t" &
done
wait
end=$(date +%s)

fail=0
printf '%-26s %7s %12s %8s %8s %8s  %s\n' target seconds executions cov ft corpus result
for t in "${targets[@]}"; do
    log=$build/logs/$t.log
    execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    corp=$(grep -oE 'corp: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    result=$(cat "$log.result")
    printf '%-26s %7s %12s %8s %8s %8s  %s\n' "$t" "${secs[$t]}" "${execs:-?}" "${cov:-?}" \
        "${ft:-?}" "${corp:-?}" "$result"
    if [ "$result" != ok ]; then
        fail=1
        echo "---- $t: $log" >&2
        grep -E 'ERROR|SUMMARY|Test unit written|timeout|leak' "$log" | head -n 20 >&2 || true
    fi
done
echo "fuzz.sh: build $((built - start)) s, fuzzing $((end - built)) s, ${#targets[@]} targets, $jobs at a time"
exit $fail
