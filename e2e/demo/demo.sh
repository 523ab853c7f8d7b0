#!/usr/bin/env bash
# make demo: router + 2 nodes in network namespaces, FRR in each, one frr-speaker per node in
# file mode on e2e/examples/two-nodes, then the router's ECMP routes.
set -euo pipefail
cd "$(dirname "$0")/../.."
P=demo
STATE=/tmp/frr-speaker-demo
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/frr-speaker}
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
# The routes the demo promises, as the router's kernel-facing table (zebra's FIB) shows them.
# fib_nexthops FAMILY PREFIX: the installed BGP next hops of PREFIX, one per line, sorted.
fib_nexthops() {
	vtysh -N $P-router -c "show $1 route $2 json" 2>/dev/null |
		jq -r --arg p "$2" '.[$p][]? | select(.protocol == "bgp" and .installed) | .nexthops[] | select(.fib) | .ip // .interfaceName' |
		sort | tr '\n' ' ' | sed 's/ $//' || true
}
# Each promise is NAME|FAMILY|PREFIX|WANT; WANT is the next hops' addresses, or "N hops" where they are
# link-local (IPv6 eBGP: the router installs the nodes' fe80:: addresses).
PROMISES=(
	"203.0.113.10/32 (Service web, IPv4) via both nodes|ip|203.0.113.10/32|192.0.2.11 192.0.2.12"
	"203.0.113.20/32 (Service db, externalTrafficPolicy Local) via node1 only|ip|203.0.113.20/32|192.0.2.11"
	"2001:db8:100::10/128 (Service web, IPv6) via both nodes|ipv6|2001:db8:100::10/128|2 hops"
)
missing() {
	local p name fam prefix want got
	for p in "${PROMISES[@]}"; do
		IFS='|' read -r name fam prefix want <<<"$p"
		got=$(fib_nexthops "$fam" "$prefix")
		if [[ $want == *" hops" ]]; then
			[ "$(wc -w <<<"$got")" = "${want% hops}" ] && continue
		else
			[ "$got" = "$want" ] && continue
		fi
		echo "  $name: router has next hops [${got:-none}]"
	done
}
WAIT_S=${DEMO_WAIT_S:-90}
echo -n "== waiting up to ${WAIT_S}s for the router to learn every route the demo promises "
deadline=$((SECONDS + WAIT_S))
while :; do
	left=$(missing)
	[ -z "$left" ] && break
	if [ $SECONDS -ge $deadline ]; then
		echo
		echo "== FAILED: after ${WAIT_S}s these routes did not arrive:" >&2
		echo "$left" >&2
		echo "== BGP sessions at the router" >&2
		vtysh -N $P-router -c 'show bgp summary' >&2 || true
		for i in 1 2; do
			echo "== last lines of $STATE/agent-node$i.log" >&2
			tail -n 20 "$STATE/agent-node$i.log" >&2 || true
		done
		echo "(make demo-down removes the lab)" >&2
		exit 1
	fi
	echo -n .
	sleep 0.5
done
echo " all there (${SECONDS}s since the demo started)"
echo
echo "== BGP sessions at the router"
vtysh -N $P-router -c 'show bgp summary' | grep -E '^(Neighbor|192|2001)'
echo
echo "== the router's BGP routes (IPv4): 203.0.113.10 via both nodes (ECMP), 203.0.113.20 (externalTrafficPolicy Local) via node1 only"
vtysh -N $P-router -c 'show ip route bgp' | grep -E '^B|via'
echo
echo "== the router's BGP routes (IPv6): 2001:db8:100::10 via both nodes (ECMP, next hops are the nodes' link-local addresses)"
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
