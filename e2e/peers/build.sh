#!/usr/bin/env bash
# Build a peer project's own binaries from its published Go module into a cache outside the repo,
# as test clients (tests/system/metallb_client.rs) and benchmark baselines. A second run only
# checks the cache. Prints the directory on its last line.
#
#   e2e/peers/build.sh metallb     # MetalLB's controller and speaker (METALLB_VERSION=v0.16.1),
#                                  # and its CRDs as published in that module
#   e2e/peers/build.sh frrk8s      # frr-k8s's daemon (FRRK8S_VERSION=v0.0.25), its reloader script
#                                  # and its CRDs, from its module (for `make bench` only)
#
# v0.16.1, not v0.16.2: v0.16.2 requires github.com/metallb/frr-k8s v0.0.27, which the Go module
# proxy refuses here ("403 Forbidden: This module version is not available", December 2026);
# v0.16.1 requires frr-k8s v0.0.25, the release frr-speaker's frr-k8s mode follows.
set -euo pipefail
METALLB_VERSION=${METALLB_VERSION:-v0.16.1}
FRRK8S_VERSION=${FRRK8S_VERSION:-v0.0.25}
CACHE=${FRR_SPEAKER_TESTBIN:-$HOME/.cache/frr-speaker-testbin}
case "${1:-}" in
metallb)
	OUT="$CACHE/metallb-$METALLB_VERSION"
	MODULE=go.universe.tf/metallb
	VERSION=$METALLB_VERSION
	PKGS="controller speaker"
	FILES="config/crd/bases/*.yaml:crds" ;;
frrk8s)
	OUT="$CACHE/frr-k8s-$FRRK8S_VERSION"
	MODULE=github.com/metallb/frr-k8s
	VERSION=$FRRK8S_VERSION
	PKGS="cmd/frr-k8s-controller"
	FILES="config/crd/bases/*.yaml:crds cmd/reloader/frr-reloader.sh:." ;;
*) echo "usage: $0 metallb|frrk8s" >&2; exit 2 ;;
esac
have=1
for p in $PKGS; do [ -x "$OUT/$(basename "$p")" ] || have=0; done
if [ $have = 1 ]; then
	echo "$OUT"
	exit 0
fi
command -v go >/dev/null || { echo "go is required to build $MODULE" >&2; exit 1; }
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/crds"
echo "== $MODULE $VERSION: $PKGS (a few minutes on 2 cores the first time)" >&2
for p in $PKGS; do
	GOBIN="$OUT.tmp" go install -trimpath "$MODULE/$p@$VERSION" >&2
done
dir=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
for f in $FILES; do
	# shellcheck disable=SC2086 # the pattern is globbed on purpose
	cp "$dir"/${f%%:*} "$OUT.tmp/${f##*:}/"
done
chmod -R u+w "$OUT.tmp"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "$OUT"
