#!/usr/bin/env bash
# make demo-down: stop the demo's agents and remove its namespaces and FRR instances.
cd "$(dirname "$0")/../.."
for f in /tmp/frr-speaker-demo/agent-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
e2e/lab.sh down demo
rm -rf /tmp/frr-speaker-demo
echo "demo removed"
