#!/usr/bin/env bash
# make demo: router + 2 nodes in network namespaces, FRR in each, one frr-speaker per node in
# file mode on e2e/examples/two-nodes, then the router's ECMP routes.
set -euo pipefail
cd "$(dirname "$0")/../.."
P=demo
STATE=/tmp/frr-speaker-demo
BIN=${BIN:-target/release/frr-speaker}
MANIFESTS=${MANIFESTS:-e2e/examples/two-nodes}

e2e/lab.sh down "$P" >/dev/null 2>&1 || true
rm -rf "$STATE" && mkdir -p "$STATE"
echo "== namespaces: $P-router, $P-node1, $P-node2 (192.0.2.0/24, 2001:db8::/64)"
e2e/lab.sh up 2 "$P"
install -d /etc/frr/$P-router && cp e2e/demo/router.conf /etc/frr/$P-router/frr.conf
for ns in $P-router $P-node1 $P-node2; do e2e/lab.sh frr-start "$ns"; done
echo "== agents (logs in $STATE/agent-nodeN.log)"
for i in 1 2; do
	ip netns exec $P-node$i "$BIN" run --node node$i --manifests "$PWD/$MANIFESTS" \
		--frr-config /etc/frr/$P-node$i/frr.conf --vty-socket-dir /var/run/frr/$P-node$i \
		--metrics-addr 127.0.0.1:7472 >"$STATE/agent-node$i.log" 2>&1 &
	echo $! >"$STATE/agent-node$i.pid"
done
echo -n "== waiting for the router to learn the routes "
for _ in $(seq 1 120); do
	n=$(vtysh -N $P-router -c 'show ip route bgp' 2>/dev/null | grep -A1 '203.0.113.10/32' | grep -c 'via 192.0.2.1[12]' || true)
	[ "$n" -ge 2 ] && break
	echo -n .
	sleep 0.5
done
echo
echo "== BGP sessions at the router"
vtysh -N $P-router -c 'show bgp summary' | grep -E '^(Neighbor|192|2001)'
echo
echo "== the router's BGP routes (IPv4): 203.0.113.10 via both nodes (ECMP), 203.0.113.20 (externalTrafficPolicy Local) via node1 only"
vtysh -N $P-router -c 'show ip route bgp' | grep -E '^B|via'
echo
echo "== the router's BGP routes (IPv6)"
vtysh -N $P-router -c 'show ipv6 route bgp' | grep -E '^B|via'
cat <<EOT

Poke at it:
  ip netns exec $P-router vtysh -N $P-router -c 'show bgp summary'
  vtysh -N $P-router -c 'show bgp ipv4 unicast 203.0.113.10/32'     # communities, both paths
  vtysh -N $P-node1 -c 'show running-config'                         # what the agent applied
  edit $MANIFESTS/*.yaml and watch the router follow; logs: $STATE/agent-node1.log
Tear down:
  make demo-down
EOT
