#!/bin/sh
# FRR container entrypoint: /etc/frr is a volume shared with the agent, so the image's own files
# are copied in at start; frr.conf is kept if the agent already wrote one (FRR restarts with the
# node's last applied config). watchfrr runs in the foreground and restarts a daemon that dies.
set -eu
# FRR_SPEAKER_SHARE: only for tests/system/images.rs, which runs this script outside a container.
SRC=${FRR_SPEAKER_SHARE:-/usr/share/frr-speaker}
# Group frrvty may write: the agent (non-root, in that group) writes frr.conf here.
install -d -o frr -g frrvty -m 0775 /etc/frr /var/run/frr
install -o frr -g frrvty -m 0640 "$SRC/daemons" /etc/frr/daemons
install -o frr -g frrvty -m 0640 "$SRC/vtysh.conf" /etc/frr/vtysh.conf
if [ ! -s /etc/frr/frr.conf ]; then
	install -o frr -g frr -m 0600 "$SRC/frr.conf" /etc/frr/frr.conf
fi
# frrcommon.sh reads unset variables (FRR_PATHSPACE, ...).
set +u
. /usr/lib/frr/frrcommon.sh
# shellcheck disable=SC2046 # one argument per daemon
exec /usr/lib/frr/watchfrr $(daemon_list)
