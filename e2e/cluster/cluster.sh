#!/usr/bin/env bash
# A real two-node Kubernetes cluster on this machine, in the namespace lab, from real parts:
#
#   PREFIX-router   the lab router's FRR (AS 64500, e2e/demo/router.conf), LAN 192.0.2.0/24
#   PREFIX-cp       etcd, kube-apiserver (192.0.2.250:443), kube-controller-manager, kube-scheduler
#   PREFIX-nodeK    a containerd (Debian's), a kubelet and a kube-proxy (iptables) per node, node IP
#                   192.0.2.(10+K); a hostNetwork pod (the speaker) lives here, next to the router;
#                   other pods get 198.18.K.0/24 from the CNI bridge plugin (Debian's
#                   containernetworking-plugins)
#   PREFIX-client   198.51.100.2 behind the router, for traffic to the Services' addresses
#
# The Kubernetes binaries are built from their published Go modules and cached
# (e2e/controlplane/build.sh), the images by `make images` (e2e/images/build.sh) and imported into
# each node's containerd: nothing is pulled. The `kubernetes` Service's ClusterIP (198.18.248.1, of 198.18.248.0/21) is
# also an address of the control-plane namespace that every node routes to, so the hostNetwork
# speaker reaches the apiserver before kube-proxy has written its rules.
#
# Usage: cluster.sh up [PREFIX] [FRR_IMAGE_TAG]   (PREFIX fspod; FRR_IMAGE_TAG trixie or bookworm)
#        cluster.sh kubectl [PREFIX] -- ARGS...   kubectl as the cluster admin
#        cluster.sh down [PREFIX]                 stop everything, remove every mount, cgroup, namespace
#        cluster.sh env [PREFIX]                  the paths a test needs (STATE=..., KUBECTL=...)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=${FRR_SPEAKER_TESTBIN:-$HOME/.cache/frr-speaker-testbin}
CP_IP=192.0.2.250
API_VIP=198.18.248.1
NODES=2

cmd=${1:-}
shift || true
P=${1:-fspod}
[ $# -gt 0 ] && shift
STATE=/tmp/frr-speaker-cluster-$P
RUN=/run/frr-speaker-cluster/$P

bins() {
	CPBIN=${CPBIN:-$(e2e/controlplane/build.sh | tail -n 1)}
	NODEBIN=${NODEBIN:-$(e2e/controlplane/build.sh node | tail -n 1)}
}

# log NAME CMD...: start CMD in the background, output to $STATE/NAME.log, pid to $STATE/NAME.pid.
start() {
	local name=$1
	shift
	"$@" >"$STATE/$name.log" 2>&1 &
	echo $! >"$STATE/$name.pid"
}

certs() {
	local d=$STATE/pki
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=frr-speaker-cluster-ca \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$d/apiserver.key" \
		-out "$d/apiserver.csr" 2>/dev/null
	printf 'subjectAltName=IP:%s,IP:%s,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' \
		"$CP_IP" "$API_VIP" >"$d/san.ext"
	openssl x509 -req -days 2 -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-extfile "$d/san.ext" -out "$d/apiserver.crt" 2>/dev/null
	openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
	openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
	# Static tokens: the admin; each kubelet as its node (Node authorizer + NodeRestriction).
	{
		echo 'admin-token,admin,admin,"system:masters"'
		for i in $(seq 1 $NODES); do echo "node$i-token,system:node:node$i,node$i,\"system:nodes\""; done
		echo 'kube-proxy-token,system:kube-proxy,kube-proxy'
	} >"$d/tokens.csv"
}

kubeconfig() { # kubeconfig FILE TOKEN
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "https://$CP_IP:443", certificate-authority: "$STATE/pki/ca.crt"}
users:
- name: u
  user: {token: $2}
contexts:
- name: lab
  context: {cluster: lab, user: u}
current-context: lab
EOF
}

control_plane() {
	local ns=$P-cp d=$STATE/pki
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "$P-cp" netns "$P-router" type veth peer name eth0 netns "$ns"
	ip -n "$P-router" link set "$P-cp" master br0 up
	ip -n "$ns" addr add $CP_IP/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add $API_VIP/32 dev lo
	for i in $(seq 1 $NODES); do
		ip -n "$ns" route add "198.18.$i.0/24" via "192.0.2.$((10 + i))"
	done
	start etcd ip netns exec "$ns" "$CPBIN/etcd" --data-dir "$STATE/etcd" --unsafe-no-fsync --log-level error \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster default=http://127.0.0.1:2380
	start kube-apiserver ip netns exec "$ns" "$CPBIN/kube-apiserver" \
		--etcd-servers http://127.0.0.1:2379 --secure-port 443 --bind-address 0.0.0.0 \
		--advertise-address $CP_IP --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" \
		--client-ca-file "$d/ca.crt" --service-cluster-ip-range 198.18.248.0/21 \
		--service-account-issuer https://kubernetes.default.svc --service-account-key-file "$d/sa.pub" \
		--service-account-signing-key-file "$d/sa.key" --token-auth-file "$d/tokens.csv" \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--kubelet-preferred-address-types InternalIP --allow-privileged=true
	kubeconfig "$STATE/admin.kubeconfig" admin-token
	local t=$SECONDS
	until ip netns exec "$ns" curl -sf --cacert "$d/ca.crt" -H 'Authorization: Bearer admin-token' \
		"https://$CP_IP/api/v1/namespaces/default" >/dev/null 2>&1; do
		[ $((SECONDS - t)) -lt 120 ] || { echo "kube-apiserver not ready: $STATE/kube-apiserver.log" >&2; exit 1; }
		sleep 0.3
	done
	start kube-controller-manager ip netns exec "$ns" "$NODEBIN/kube-controller-manager" \
		--kubeconfig "$STATE/admin.kubeconfig" --service-account-private-key-file "$d/sa.key" \
		--root-ca-file "$d/ca.crt" --use-service-account-credentials=false --leader-elect=false \
		--bind-address 127.0.0.1 --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller'
	start kube-scheduler ip netns exec "$ns" "$NODEBIN/kube-scheduler" \
		--kubeconfig "$STATE/admin.kubeconfig" --leader-elect=false --bind-address 127.0.0.1
}

# A client network behind the router (198.51.100.0/24: router .1, PREFIX-client .2), for traffic
# to the Services' addresses through the router's ECMP routes.
client() {
	local ns=$P-client
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "$P-cl" netns "$P-router" type veth peer name eth0 netns "$ns"
	ip -n "$P-router" addr add 198.51.100.1/24 dev "$P-cl"
	ip -n "$P-router" link set "$P-cl" up
	ip -n "$ns" addr add 198.51.100.2/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via 198.51.100.1
}

# The cgroup (v1, cgroupfs driver) a node's kubelet puts its pods under, in every hierarchy.
CGROUPS="cpu cpuacct cpuset memory devices freezer blkio pids systemd unified"
cgroup_root() {
	local h
	for h in $CGROUPS; do
		[ -d "/sys/fs/cgroup/$h" ] && [ "$h" != unified ] || continue
		mkdir -p "/sys/fs/cgroup/$h/$1"
		if [ "$h" = cpuset ]; then
			cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$1/cpuset.cpus"
			cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$1/cpuset.mems"
		fi
	done
}

node() {
	local i=$1 ns=$P-node$i dir=$STATE/node$i ip=192.0.2.$((10 + i))
	local sock=$RUN/node$i/containerd.sock cg=/$P-node$i
	mkdir -p "$dir/cni" "$dir/pod-logs" "$RUN/node$i"
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$ns" route add $API_VIP/32 via $CP_IP
	ip -n "$ns" route add default via 192.0.2.1
	for j in $(seq 1 $NODES); do
		[ "$j" = "$i" ] || ip -n "$ns" route add "198.18.$j.0/24" via "192.0.2.$((10 + j))"
	done
	cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd"
state = "$RUN/node$i/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/fs-base/pause:busybox"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
EOF
	cat >"$dir/cni/10-lab.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "lab", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.$i.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$RUN/node$i/ipam"}},
  {"type": "loopback"}
]}
EOF
	# In the node's network namespace and a private copy of this mount namespace (with the
	# cgroup mounts, which `ip netns exec` would hide); the kubelet joins both below, so the
	# volumes it mounts are what runc sees. Every mount dies with these processes.
	start "containerd-node$i" nsenter --net="/var/run/netns/$ns" unshare --mount --propagation private \
		containerd --config "$dir/containerd.toml"
	local t=$SECONDS
	until ctr -a "$sock" version >/dev/null 2>&1; do
		[ $((SECONDS - t)) -lt 30 ] || { echo "containerd of node$i not up: $STATE/containerd-node$i.log" >&2; exit 1; }
		sleep 0.2
	done
	local img
	for img in "$IMAGES"/*.tar; do
		ctr -a "$sock" -n k8s.io images import "$img" >/dev/null
	done
	cgroup_root "$cg"
	kubeconfig "$dir/kubelet.kubeconfig" "node$i-token"
	cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $cg
containerRuntimeEndpoint: unix://$sock
address: $ip
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
failSwapOn: false
resolvConf: ""
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# No node-pressure eviction: the nodes share this machine's memory and disk with everything else
# it runs (a CI run's builds filled the disk past a threshold and the kubelets evicted the speaker
# pods); "0%" turns a signal off.
evictionHard: {memory.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%", imagefs.inodesFree: "0%"}
serializeImagePulls: false
# Each kubelet its own pod log directory: both nodes' kubelets run on this one machine, and a
# kubelet's garbage collection removes the log directories of pods it does not know, so with the
# shared default (/var/log/pods) each removed the other node's logs (`kubectl logs` then failed:
# "lstat /var/log/pods/...: no such file or directory").
podLogsDir: $dir/pod-logs
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
EOF
	kubeconfig "$dir/kube-proxy.kubeconfig" kube-proxy-token
	cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$dir/kube-proxy.kubeconfig"}
hostnameOverride: node$i
mode: iptables
clusterCIDR: 198.18.0.0/22
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
	start "kube-proxy-node$i" nsenter --target "$(cat "$STATE/containerd-node$i.pid")" --net --mount \
		"$NODEBIN/kube-proxy" --config "$dir/kube-proxy.yaml"
	start "kubelet-node$i" nsenter --target "$(cat "$STATE/containerd-node$i.pid")" --net --mount \
		"$NODEBIN/kubelet" --config "$dir/kubelet.yaml" \
		--kubeconfig "$dir/kubelet.kubeconfig" --root-dir "$dir/kubelet" --hostname-override "node$i" \
		--node-ip "$ip"
}

up() {
	local tag=${1:-trixie}
	bins
	IMAGES=${IMAGES:-$(e2e/images/build.sh | tail -n 1)}
	# The FRR image the pods run: a copy of the chosen one under the name the kustomization uses.
	down >/dev/null 2>&1 || true
	mkdir -p "$STATE" "$RUN"
	IMAGES_SEL=$STATE/images
	mkdir -p "$IMAGES_SEL"
	ln -s "$IMAGES/agent.tar" "$IMAGES/pause.tar" "$IMAGES_SEL/"
	ln -s "$IMAGES/frr-$tag.tar" "$IMAGES_SEL/frr.tar"
	IMAGES=$IMAGES_SEL
	echo "$tag" >"$STATE/frr-image"
	certs
	e2e/lab.sh up $NODES "$P"
	install -d "/etc/frr/$P-router" && cp e2e/demo/router.conf "/etc/frr/$P-router/frr.conf"
	e2e/lab.sh frr-start "$P-router"
	client
	control_plane
	for i in $(seq 1 $NODES); do node "$i"; done
	local t=$SECONDS
	until [ "$(kctl get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" = $NODES ]; do
		if [ $((SECONDS - t)) -ge 120 ]; then
			kctl get nodes -o wide >&2 || true
			echo "nodes not Ready: $STATE/kubelet-node*.log" >&2
			exit 1
		fi
		sleep 1
	done
	echo "cluster $P up in ${SECONDS}s: kubectl is 'e2e/cluster/cluster.sh kubectl $P -- ARGS'"
}

kctl() {
	bins
	ip netns exec "$P-cp" "$NODEBIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"
}

stop_pidfile() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$f"
}

down() {
	local i pid h
	for i in $(seq 1 $NODES); do
		stop_pidfile "$STATE/kubelet-node$i.pid"
		stop_pidfile "$STATE/kube-proxy-node$i.pid"
	done
	for i in $(seq 1 $NODES); do
		local sock=$RUN/node$i/containerd.sock
		if [ -S "$sock" ]; then
			for c in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
				ctr -a "$sock" -n k8s.io tasks kill -s KILL "$c" >/dev/null 2>&1 || true
			done
		fi
	done
	# The shims (and what they run) of this cluster's containerds.
	for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $RUN/" || true); do kill -9 "$pid" 2>/dev/null || true; done
	for i in $(seq 1 $NODES); do stop_pidfile "$STATE/containerd-node$i.pid"; done
	for f in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pidfile "$STATE/$f.pid"; done
	# The pods' network namespaces: containerd named them under /var/run/netns from its private mount
	# namespace, so here they are empty files once it is gone (those made since this cluster started).
	if [ -d "$STATE/pki" ]; then
		find /var/run/netns -maxdepth 1 -name 'cni-*' -newer "$STATE/pki/ca.crt" 2>/dev/null |
			while read -r f; do mountpoint -q "$f" || rm -f "$f"; done
	fi
	e2e/lab.sh down "$P" >/dev/null 2>&1 || true
	# Mounts made under the state dirs (the namespaces' mount tables died with their processes;
	# anything propagated to this one goes here), deepest first.
	for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($STATE|$RUN)/" | sort -r || true); do
		umount -l "$m" 2>/dev/null || true
	done
	for i in $(seq 1 $NODES); do
		for h in $CGROUPS; do
			[ -d "/sys/fs/cgroup/$h/$P-node$i" ] || continue
			find "/sys/fs/cgroup/$h/$P-node$i" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		done
	done
	rm -rf "$STATE" "$RUN"
	rmdir "${RUN%/*}" 2>/dev/null || true
}

case "$cmd" in
up) up "$@" ;;
down) down ;;
kubectl)
	[ "${1:-}" = -- ] && shift
	kctl "$@"
	;;
env)
	bins
	echo "STATE=$STATE"
	echo "KUBECTL=$NODEBIN/kubectl"
	echo "KUBECONFIG=$STATE/admin.kubeconfig"
	echo "CP_NS=$P-cp"
	;;
*) sed -n '2,21p' "$0"; exit 2 ;;
esac
