#!/usr/bin/env bash
# Build a real kube-apiserver and etcd from their published Go modules into a cache outside the
# repo (for the Kubernetes-mode tests). A second run only checks the cache. Prints the directory
# holding the two binaries on its last line.
#
#   e2e/controlplane/build.sh            # K8S_VERSION=v1.36.3 ETCD_VERSION=v3.6.16 by default
#   e2e/controlplane/build.sh node       # kubelet, kube-controller-manager, kube-scheduler, kube-proxy,
#                                        # kubectl of K8S_VERSION (e2e/cluster), into their own dir
#
# Why a wrapper module: k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with local paths, so `go install pkg@version` cannot build it; the wrapper replaces each of them
# with the published v0.<minor>.<patch> (the list is read from the downloaded go.mod).
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CACHE=${FRR_SPEAKER_TESTBIN:-$HOME/.cache/frr-speaker-testbin}
MODE=${1:-controlplane}
case "$MODE" in
controlplane)
	OUT="$CACHE/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
	K8S_BINS="kube-apiserver"
	WANT="kube-apiserver etcd" ;;
node)
	OUT="$CACHE/k8s-$K8S_VERSION-node"
	K8S_BINS="kubelet kube-controller-manager kube-scheduler kubectl kube-proxy"
	WANT="$K8S_BINS" ;;
*) echo "usage: $0 [controlplane|node]" >&2; exit 2 ;;
esac
have=1
for b in $WANT; do [ -x "$OUT/$b" ] || have=0; done
if [ $have = 1 ]; then
	echo "$OUT"
	exit 0
fi
command -v go >/dev/null || { echo "go is required to build the control plane" >&2; exit 1; }
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$OUT.tmp"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$MODE" = controlplane ]; then
	echo "== etcd $ETCD_VERSION" >&2
	mkdir -p "$work/etcd" && cd "$work/etcd"
	cat >go.mod <<EOT
module frrspeaker.invalid/etcdbuild
go 1.24
EOT
	go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
	go build -trimpath -o "$OUT.tmp/etcd" go.etcd.io/etcd/server/v3
fi

echo "== $K8S_BINS $K8S_VERSION (10-25 minutes on 2 cores the first time)" >&2
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
patch=$(echo "$K8S_VERSION" | cut -d. -f3)
staging="v0.$minor.$patch"
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
mkdir -p "$work/k8s" && cd "$work/k8s"
{
	echo "module frrspeaker.invalid/k8sbuild"
	echo "go 1.24"
	echo "require k8s.io/kubernetes $K8S_VERSION"
	grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
} >go.mod
{
	echo "//go:build tools"
	echo
	echo "package tools"
	echo
	for b in $K8S_BINS; do echo "import _ \"k8s.io/kubernetes/cmd/$b\""; done
} >tools.go
go mod tidy >&2
pkg=k8s.io/component-base/version
for b in $K8S_BINS; do
	echo "== $b" >&2
	go build -trimpath -o "$OUT.tmp/$b" \
		-ldflags "-X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
		"k8s.io/kubernetes/cmd/$b"
done
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "$OUT"
