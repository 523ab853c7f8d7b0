#!/usr/bin/env bash
# Build (once, cached outside the repo) a Debian trixie root file system with FRR 10 from Debian's
# packages, for the FRR version matrix: the lab runs a node's FRR from it (e2e/lab.sh frr-start NS
# ROOT). A second run only checks the cache. Prints the root's path on its last line.
#
#   e2e/frr10/root.sh          # FRR10_SUITE=trixie by default
set -euo pipefail
SUITE=${FRR10_SUITE:-trixie}
PACKAGES=frr,frr-pythontools,iproute2,procps
CACHE=${FRR_SPEAKER_TESTBIN:-$HOME/.cache/frr-speaker-testbin}
OUT="$CACHE/frr-root-$SUITE"
if [ -x "$OUT/usr/lib/frr/bgpd" ] && [ -f "$OUT/.complete" ]; then
	echo "$OUT"
	exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is required (make deps installs it)" >&2; exit 1; }
rm -rf "$OUT.tmp"
mkdir -p "$CACHE"
echo "== Debian $SUITE root with $PACKAGES (about a minute the first time)" >&2
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "$SUITE" "$OUT.tmp" >&2
# Mount points the lab binds into the root (see e2e/lab.sh).
mkdir -p "$OUT.tmp/run/frr" "$OUT.tmp/lab"
touch "$OUT.tmp/.complete"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "$OUT"
