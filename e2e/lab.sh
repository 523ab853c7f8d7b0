#!/usr/bin/env bash
# The namespace lab: one router and N nodes, each a network namespace running its own FRR
# (zebra, bgpd, bfdd, staticd) with pathspace -N <name>.  Only documentation ranges are used:
#   LAN        192.0.2.0/24     router .1, nodeK .(10+K)      2001:db8::/64   router ::1, nodeK ::(10+K)
#   client     198.51.100.0/24  router .1, client .2 (optional, for traffic tests)
#
# Usage: lab.sh up N [PREFIX]   create router + N nodes (PREFIX defaults to "fs"; namespaces PREFIX-router, ...)
#        lab.sh bare NAME       create one empty namespace NAME (loopback only)
#        lab.sh down [PREFIX]   kill every daemon and delete every namespace of the lab
#        lab.sh frr-start NS    start FRR in namespace NS (config /etc/frr/NS/frr.conf if present)
#        lab.sh frr-stop NS     stop FRR in namespace NS
#        lab.sh daemon-start NS D   start one FRR daemon D (bgpd, ...) in NS with an empty config
set -euo pipefail

RUNDIR=/var/run/frr
CONFDIR=/etc/frr
LOGDIR=${LAB_LOGDIR:-/tmp/frr-speaker-lab}

frr_start() {
	local ns=$1
	install -d -o frr -g frr -m 0755 "$RUNDIR/$ns"
	install -d -o frr -g frr -m 0755 "$CONFDIR/$ns"
	mkdir -p "$LOGDIR"
	[ -f "$CONFDIR/$ns/vtysh.conf" ] || echo "service integrated-vtysh-config" >"$CONFDIR/$ns/vtysh.conf"
	[ -f "$CONFDIR/$ns/frr.conf" ] || printf 'frr defaults traditional\n!\n' >"$CONFDIR/$ns/frr.conf"
	chown frr:frr "$CONFDIR/$ns/frr.conf" "$CONFDIR/$ns/vtysh.conf"
	local d
	for d in zebra bgpd bfdd staticd; do
		daemon_start "$ns" "$d"
	done
	# Load the startup config through vtysh (integrated config), as frrinit does.
	vtysh -N "$ns" -f "$CONFDIR/$ns/frr.conf" >/dev/null
}

daemon_start() {
	local ns=$1 d=$2 extra=""
	[ "$d" = zebra ] && extra="-s 90000000"
	ip netns exec "$ns" unshare --uts sh -c "hostname $ns; exec /usr/lib/frr/$d -N $ns -d -P 0 -A 127.0.0.1 \
		-i $RUNDIR/$ns/$d.pid --log file:$LOGDIR/$ns-$d.log $extra -f /dev/null" 2>>"$LOGDIR/$ns-$d.stderr"
}

frr_stop() {
	local ns=$1 d pid
	for d in staticd bfdd bgpd zebra; do
		if [ -f "$RUNDIR/$ns/$d.pid" ]; then
			pid=$(cat "$RUNDIR/$ns/$d.pid")
			kill -9 "$pid" 2>/dev/null || true
			rm -f "$RUNDIR/$ns/$d.pid"
		fi
	done
	# Anything else still running in the namespace (agents, listeners).
	for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
}

up() {
	local n=$1 p=${2:-fs} i
	local r="$p-router"
	ip netns add "$r"
	ip -n "$r" link set lo up
	ip -n "$r" link add br0 type bridge
	ip -n "$r" addr add 192.0.2.1/24 dev br0
	ip -n "$r" addr add 2001:db8::1/64 dev br0 nodad
	ip -n "$r" link set br0 up
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.fib_multipath_hash_policy=1
	for i in $(seq 1 "$n"); do
		local nn="$p-node$i"
		ip netns add "$nn"
		ip -n "$nn" link set lo up
		ip link add "$p-n$i" netns "$r" type veth peer name eth0 netns "$nn"
		ip -n "$r" link set "$p-n$i" master br0 up
		ip -n "$nn" addr add "192.0.2.$((10 + i))/24" dev eth0
		ip -n "$nn" addr add "2001:db8::$((10 + i))/64" dev eth0 nodad
		ip -n "$nn" link set eth0 up
	done
}

bare() {
	ip netns add "$1"
	ip -n "$1" link set lo up
}

down() {
	local p=${1:-fs} ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do
		frr_stop "$ns"
		ip netns del "$ns"
		rm -rf "${RUNDIR:?}/$ns" "${CONFDIR:?}/$ns"
	done
}

cmd=${1:-}
shift || true
case "$cmd" in
up) up "$@" ;;
bare) bare "$@" ;;
down) down "$@" ;;
frr-start) frr_start "$@" ;;
frr-stop) frr_stop "$@" ;;
daemon-start) daemon_start "$@" ;;
*) sed -n '2,14p' "$0"; exit 2 ;;
esac
