#!/usr/bin/env bash
# make fuzz: build the targets (nightly, cargo fuzz) and run each for FUZZ_SECONDS (default 600),
# two at a time. New inputs go to a scratch corpus (target dir); the committed seeds stay small.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-600}
cargo +nightly fuzz build -O
run() {
	local t=$1 scratch=fuzz/target/corpus/$1
	mkdir -p "$scratch"
	cargo +nightly fuzz run -O "$t" "$scratch" "fuzz/seeds/$t" -- -max_total_time="$secs" -max_len=4096 \
		-print_final_stats=1 >"fuzz/target/$t.log" 2>&1 && echo "$t: $(grep -E 'stat::number_of_executed_units' "fuzz/target/$t.log")" \
		|| { echo "$t: FAILED (fuzz/target/$t.log)"; tail -40 "fuzz/target/$t.log"; return 1; }
}
run manifest & a=$!
run desired & b=$!
wait $a && wait $b
run frr_json & a=$!
run frr_config & b=$!
wait $a && wait $b
run alloc & a=$!
run frrk8s & b=$!
wait $a && wait $b
