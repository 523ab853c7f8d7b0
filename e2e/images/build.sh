#!/usr/bin/env bash
# `make images`: build the speaker's two images from docker/*.Dockerfile with buildah (Debian's
# package), on the local base images of e2e/images/bases.sh, and save each as an OCI archive:
#
#   $OUT/agent.tar          localhost/frr-speaker:dev         (docker/agent.Dockerfile)
#   $OUT/frr-trixie.tar     localhost/frr-speaker-frr:trixie  (docker/frr.Dockerfile, FRR 10.3)
#   $OUT/frr-bookworm.tar   localhost/frr-speaker-frr:bookworm (the same, BASE bookworm: FRR 8.4)
#   $OUT/pause.tar          localhost/fs-base/pause:busybox   (the kubelet's sandbox image)
#
# Layers and the cargo caches are kept, so a rebuild after a change compiles only that change.
# Prints a table of the images and their sizes; the last line is $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${FRR_SPEAKER_TESTBIN:-$HOME/.cache/frr-speaker-testbin}
OUT=${IMAGES_OUT:-$CACHE/images}
. e2e/images/buildah.sh
e2e/images/bases.sh >&2
mkdir -p "$OUT"

bud() {
	local tag=$1 file=$2
	shift 2
	echo "== $tag ($file $*)" >&2
	bah bud --quiet --layers --network host -f "$file" -t "$tag" "$@" . >&2
}
# The host's trust store for cargo's downloads (this network's TLS may be re-signed by a local CA
# the builder image does not know); a build step's volume, not part of any image.
bud localhost/frr-speaker:dev docker/agent.Dockerfile -v /etc/ssl/certs:/etc/ssl/certs:ro \
	--build-arg BUILDER=localhost/fs-base/rust:bookworm --build-arg RUNTIME=localhost/fs-base/runtime:bookworm
bud localhost/frr-speaker-frr:trixie docker/frr.Dockerfile --build-arg BASE=localhost/fs-base/debian:trixie-slim
bud localhost/frr-speaker-frr:bookworm docker/frr.Dockerfile --build-arg BASE=localhost/fs-base/debian:bookworm-slim

save() {
	local image=$1 file=$2
	rm -f "$OUT/$file"
	bah push --quiet "$image" "oci-archive:$OUT/$file:$image" >&2
	printf '%-36s %-16s %6s MiB\n' "$image" "$file" "$(($(stat -c %s "$OUT/$file") / 1048576))"
}
printf '%-36s %-16s %10s\n' image archive size
save localhost/frr-speaker:dev agent.tar
save localhost/frr-speaker-frr:trixie frr-trixie.tar
save localhost/frr-speaker-frr:bookworm frr-bookworm.tar
save localhost/fs-base/pause:busybox pause.tar
# Dangling layers of earlier builds.
bah rmi --prune >/dev/null 2>&1 || true
echo "$OUT"
