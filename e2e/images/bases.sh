#!/usr/bin/env bash
# Local base images for docker/*.Dockerfile, made from Debian's packages with mmdebstrap (no
# container registry is reachable here). The Dockerfiles keep the public images as their build
# argument defaults; e2e/images/build.sh passes these instead:
#
#   localhost/fs-base/debian:trixie-slim     BASE of docker/frr.Dockerfile (FRR 10.3)
#   localhost/fs-base/debian:bookworm-slim   BASE of docker/frr.Dockerfile (FRR 8.4)
#   localhost/fs-base/rust:bookworm          BUILDER of docker/agent.Dockerfile: Debian bookworm with
#                                            gcc and the host's Rust toolchain (rustc, cargo)
#   localhost/fs-base/runtime:bookworm       RUNTIME of docker/agent.Dockerfile: glibc, libgcc and
#                                            CA certificates only, user nonroot (65532); no shell
#   localhost/fs-base/pause:busybox          the kubelet's sandbox image: a static busybox sleeping
#
# Each is built once into the buildah storage under $CACHE and kept (a second run checks only).
# Prints nothing on success but the image names it made.
set -euo pipefail
CACHE=${FRR_SPEAKER_TESTBIN:-$HOME/.cache/frr-speaker-testbin}
. "$(dirname "$0")/buildah.sh"

have() { bah images --quiet "$1" >/dev/null 2>&1; }

# A root file system tarball from mmdebstrap, imported as an image.
from_rootfs() {
	local name=$1 suite=$2 variant=$3 include=$4 fixup=${5:-}
	have "$name" && return 0
	local dir
	dir=$(mktemp -d)
	echo "== $name: mmdebstrap $suite ($variant${include:+: $include})" >&2
	mmdebstrap --quiet --variant="$variant" ${include:+--include="$include"} \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		"$suite" "$dir/root" http://deb.debian.org/debian >&2
	[ -n "$fixup" ] && (cd "$dir/root" && eval "$fixup")
	local c
	c=$(bah from scratch)
	local m
	m=$(bah mount "$c")
	cp -a "$dir/root/." "$m/"
	bah umount "$c" >/dev/null
	bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
	bah commit --quiet --rm "$c" "$name" >/dev/null
	rm -rf "$dir"
	echo "$name"
}

from_rootfs localhost/fs-base/debian:trixie-slim trixie minbase ""
from_rootfs localhost/fs-base/debian:bookworm-slim bookworm minbase ""

# distroless/cc's content: glibc, libgcc, CA certificates, tzdata, a passwd with nonroot.
from_rootfs localhost/fs-base/runtime:bookworm bookworm extract \
	"libc6,libgcc-s1,ca-certificates,tzdata,base-files,netbase" \
	'printf "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" >etc/passwd;
	 printf "root:x:0:\nnonroot:x:65532:\n" >etc/group; mkdir -p home/nonroot tmp; chmod 1777 tmp;
	 rm -rf usr/share/doc usr/share/man var/lib/dpkg var/cache/apt'

# The Rust builder: gcc and libc headers from Debian, the toolchain the host builds with.
if ! have localhost/fs-base/rust:bookworm; then
	tc=$(rustc --print sysroot)
	from_rootfs localhost/fs-base/rust:bookworm-gcc bookworm minbase "gcc,libc6-dev,ca-certificates,pkg-config" >/dev/null
	echo "== localhost/fs-base/rust:bookworm: + $(rustc --version)" >&2
	c=$(bah from localhost/fs-base/rust:bookworm-gcc)
	m=$(bah mount "$c")
	mkdir -p "$m/usr/local/rust" "$m/usr/local/cargo/bin"
	cp -a "$tc/bin" "$tc/lib" "$tc/libexec" "$m/usr/local/rust/" 2>/dev/null || cp -a "$tc/bin" "$tc/lib" "$m/usr/local/rust/"
	ln -s /usr/local/rust/bin/cargo /usr/local/rust/bin/rustc "$m/usr/local/cargo/bin/"
	bah umount "$c" >/dev/null
	bah config --env CARGO_HOME=/usr/local/cargo \
		--env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
	bah commit --quiet --rm "$c" localhost/fs-base/rust:bookworm >/dev/null
	bah rmi localhost/fs-base/rust:bookworm-gcc >/dev/null
	echo localhost/fs-base/rust:bookworm
fi

# The pod sandbox ("pause") image: it only has to sleep and die on a signal.
if ! have localhost/fs-base/pause:busybox; then
	c=$(bah from scratch)
	m=$(bah mount "$c")
	mkdir -p "$m/bin"
	cp /bin/busybox "$m/bin/busybox"
	bah umount "$c" >/dev/null
	bah config --entrypoint '["/bin/busybox", "sleep", "2147483647"]' --stop-signal KILL "$c"
	bah commit --quiet --rm "$c" localhost/fs-base/pause:busybox >/dev/null
	echo localhost/fs-base/pause:busybox
fi
