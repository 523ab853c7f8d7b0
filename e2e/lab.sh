#!/usr/bin/env bash
# The namespace lab: one router and N nodes, each a network namespace running its own FRR
# (zebra, bgpd, bfdd, staticd) with pathspace -N <name>.  Only documentation ranges are used:
#   LAN        192.0.2.0/24     router .1, nodeK .(10+K)      2001:db8::/64   router ::1, nodeK ::(10+K)
#   client     198.51.100.0/24  router .1, client .2 (optional, for traffic tests)
#
# Usage: lab.sh up N [PREFIX]   create router + N nodes (PREFIX defaults to "fs"; namespaces PREFIX-router, ...)
#        lab.sh bare NAME       create one empty namespace NAME (loopback only)
#        lab.sh down [PREFIX]   kill every daemon and delete every namespace of the lab
#        lab.sh frr-start NS [ROOT]   start FRR in namespace NS (config /etc/frr/NS/frr.conf if present)
#        lab.sh frr-stop NS     stop FRR in namespace NS
#        lab.sh daemon-start NS D [ROOT]   start one FRR daemon D (bgpd, ...) in NS with an empty config
#        lab.sh vtysh NS [ROOT] -- ARGS...  vtysh -N NS ARGS with the vtysh of the FRR that runs there
#        lab.sh dryrun FILE [ROOT]   check FILE with FRR's own parser (vtysh --dryrun) of that FRR
#        lab.sh run NS [ROOT] -- CMD...   run CMD in NS with that FRR's tools (paths under /etc/frr
#                               and /run/frr are the same inside ROOT)
#
# ROOT: a root file system with another FRR (e2e/frr10/root.sh builds Debian trixie's FRR 10);
# without it the host's FRR runs. FRR from a ROOT runs chrooted, in a private mount namespace with
# the host's /run/frr, /etc/frr and the log directory bound in, so its vty sockets are where the
# agent and the host's tools look, and no mount outlives its daemons.
set -euo pipefail

RUNDIR=/var/run/frr
CONFDIR=/etc/frr
LOGDIR=${LAB_LOGDIR:-/tmp/frr-speaker-lab}

# in_root ROOT NS CMD...: run CMD from ROOT inside namespace NS (see the header).
in_root() {
	local root=$1 ns=$2
	shift 2
	mkdir -p "$LOGDIR"
	# shellcheck disable=SC2016 # expanded by the inner shell
	ip netns exec "$ns" unshare --mount --uts --propagation private sh -c '
		root=$1 ns=$2 logdir=$3
		shift 3
		mount --bind /run/frr "$root/run/frr" && mount --bind /etc/frr "$root/etc/frr" &&
			mount --bind "$logdir" "$root/lab" && mount -t proc proc "$root/proc" &&
			mount --rbind /dev "$root/dev" && mount --rbind /sys "$root/sys" &&
			hostname "$ns" && exec chroot "$root" "$@"' sh "$root" "$ns" "$LOGDIR" "$@"
}

# The user FRR runs as (the host's, or the root's: its uid may differ).
frr_owner() {
	if [ -n "${1:-}" ]; then
		echo "$(chroot "$1" id -u frr):$(chroot "$1" id -g frr)"
	else
		echo frr:frr
	fi
}

# The daemons a version runs: FRR 10 has mgmtd, the front end that zebra and staticd (and the
# library's configuration) are back ends of; it must start first.
daemons_of() {
	if [ -n "${1:-}" ] && [ -x "$1/usr/lib/frr/mgmtd" ]; then
		echo mgmtd zebra bgpd bfdd staticd
	else
		echo zebra bgpd bfdd staticd
	fi
}

frr_start() {
	local ns=$1 root=${2:-}
	local owner
	owner=$(frr_owner "$root")
	install -d -o "${owner%:*}" -g "${owner#*:}" -m 0755 "$RUNDIR/$ns"
	install -d -o frr -g frr -m 0755 "$CONFDIR/$ns"
	mkdir -p "$LOGDIR"
	[ -f "$CONFDIR/$ns/vtysh.conf" ] || echo "service integrated-vtysh-config" >"$CONFDIR/$ns/vtysh.conf"
	[ -f "$CONFDIR/$ns/frr.conf" ] || printf 'frr defaults traditional\n!\n' >"$CONFDIR/$ns/frr.conf"
	chown "$owner" "$CONFDIR/$ns/frr.conf" "$CONFDIR/$ns/vtysh.conf"
	local d
	for d in $(daemons_of "$root"); do
		daemon_start "$ns" "$d" "$root"
	done
	# Load the startup config through vtysh (integrated config), as frrinit does.
	frr_vtysh "$ns" "$root" -f "$CONFDIR/$ns/frr.conf" >/dev/null
}

daemon_start() {
	local ns=$1 d=$2 root=${3:-} extra=""
	[ "$d" = zebra ] && extra="-s 90000000"
	# A node's bgpd listens on no TCP port, as in the pod (frr/daemons): nodes open the sessions.
	[ "$d" = bgpd ] && [ "${ns%-router}" = "$ns" ] && extra="-p 0"
	if [ -n "$root" ]; then
		# FRR 10 daemons take no config file (-f): their config comes through vtysh.
		# shellcheck disable=SC2086
		in_root "$root" "$ns" /usr/lib/frr/$d -N "$ns" -d -P 0 -A 127.0.0.1 -i "/run/frr/$ns/$d.pid" \
			--log "file:/lab/$ns-$d.log" $extra >>"$LOGDIR/$ns-$d.stderr" 2>&1
		return
	fi
	ip netns exec "$ns" unshare --uts sh -c "hostname $ns; exec /usr/lib/frr/$d -N $ns -d -P 0 -A 127.0.0.1 \
		-i $RUNDIR/$ns/$d.pid --log file:$LOGDIR/$ns-$d.log $extra -f /dev/null" 2>>"$LOGDIR/$ns-$d.stderr"
}

# frr_vtysh NS ROOT ARGS...: vtysh -N NS ARGS, with the vtysh of the FRR in ROOT (or the host's).
frr_vtysh() {
	local ns=$1 root=${2:-}
	shift 2
	if [ -n "$root" ]; then
		in_root "$root" "$ns" vtysh -N "$ns" "$@"
	else
		vtysh -N "$ns" "$@"
	fi
}

frr_stop() {
	local ns=$1 d pid
	for d in staticd bfdd bgpd zebra mgmtd; do
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
	# ECMP on the 5-tuple (policy 3, fields 0x37: addresses, protocol, ports), as a router does.
	# Not policy 1: it reuses a hash already on the packet, and here that is the sending socket's
	# own (veth keeps it), which Linux draws anew at each retransmission timeout: a flow whose
	# packet was lost would move to another node mid-connection, which no real router does.
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.fib_multipath_hash_policy=3 net.ipv4.fib_multipath_hash_fields=0x0037 \
		net.ipv6.fib_multipath_hash_policy=3 net.ipv6.fib_multipath_hash_fields=0x0037
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

# dryrun FILE [ROOT]: vtysh --dryrun -f FILE, with the vtysh in ROOT (the file is copied in).
dryrun() {
	local file=$1 root=${2:-}
	if [ -z "$root" ]; then
		vtysh --dryrun -f "$file"
		return
	fi
	local tmp rc=0
	tmp=$(mktemp -p "$root/tmp" dryrun.XXXXXX)
	cp "$file" "$tmp"
	chroot "$root" vtysh --dryrun -f "/tmp/${tmp##*/}" || rc=$?
	rm -f "$tmp"
	return $rc
}

cmd=${1:-}
shift || true
case "$cmd" in
up) up "$@" ;;
bare) bare "$@" ;;
down) down "$@" ;;
frr-start) frr_start "$@" ;;
dryrun) dryrun "$@" ;;
run)
	ns=$1 root=${2:-}
	shift 2 || shift $#
	[ "${1:-}" = -- ] && shift
	if [ -n "$root" ]; then in_root "$root" "$ns" "$@"; else ip netns exec "$ns" "$@"; fi
	;;
frr-stop) frr_stop "$@" ;;
daemon-start) daemon_start "$@" ;;
vtysh)
	ns=$1 root=${2:-}
	shift 2 || shift $#
	[ "${1:-}" = -- ] && shift
	frr_vtysh "$ns" "$root" "$@"
	;;
*) sed -n '2,20p' "$0"; exit 2 ;;
esac
