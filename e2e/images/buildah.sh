# Sourced: `bah` runs buildah on the project's own image storage (outside the repository, kept
# between runs like the other caches), so nothing touches a system-wide container store.
BUILDAH_ROOT=${BUILDAH_ROOT:-$CACHE/containers/storage}
BUILDAH_RUNROOT=${BUILDAH_RUNROOT:-/run/frr-speaker-buildah}
bah() {
	buildah --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" --storage-driver overlay "$@"
}
