#!/bin/sh
# Instructions per encode/decode for every case of benches/codec.rs, counted
# by valgrind (cachegrind, no cache simulation): unlike wall-clock time, the
# count does not change when other processes share the CPU. Each case runs
# once with 0 and once with N iterations; the difference over N is printed.
# (criterion forks a probe process; the last count is the benchmark's own.)
#
#   ui-flow/benches/count_instructions.sh [N]      (default N = 2000)
set -eu
cd "$(dirname "$0")/../.."
n=${1:-2000}
bin=$(cargo bench -p ui-flow --bench codec --no-run 2>&1 |
    sed -n 's/.*Executable.*(\(.*codec-[0-9a-f]*\)).*/\1/p' | tail -n 1)
count() {
    CODEC_BENCH_COUNT="$1:$2" valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file=/dev/null "$bin" --bench 2>&1 |
        sed -n 's/.*I *refs: *//p' | tail -n 1 | tr -d ','
}
printf '%-10s %-7s %8s %8s %8s %8s\n' message op ours sketch named json
for message in delta notify action snapshot; do
    for op in encode decode; do
        line=$(printf '%-10s %-7s' "$message" "$op")
        for label in ours sketch named json; do
            base=$(count "$message/$op/$label" 0)
            runs=$(count "$message/$op/$label" "$n")
            line="$line $(printf '%8d' $(( (runs - base) / n )))"
        done
        echo "$line"
    done
done
