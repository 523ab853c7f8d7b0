# The FRR container of the speaker pod: Debian's FRR with frr-speaker's startup files.
# Build from the repository root: docker build -f docker/frr.Dockerfile -t frr-speaker-frr:dev .
# BASE: Debian trixie's FRR 10.3 by default; --build-arg BASE=debian:bookworm-slim gives FRR 8.4.
# Both are tested (make test runs every FRR test on both).
ARG BASE=debian:trixie-slim
FROM ${BASE}
# Fixed ids, so that the agent container (a different image) can be given the frrvty group that
# owns FRR's vty sockets (deploy/daemonset.yaml: supplementalGroups). In Debian's system range
# (100-999): bookworm's FRR postinst refuses an existing frrvty outside it ("not a system group").
RUN groupadd -r -g 192 frrvty && groupadd -r -g 193 frr \
 && useradd -r -u 193 -g frr -G frrvty -d /nonexistent -s /usr/sbin/nologin frr \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends frr frr-pythontools iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY frr/daemons frr/vtysh.conf frr/frr.conf /usr/share/frr-speaker/
COPY docker/frr-entrypoint.sh /usr/local/bin/frr-entrypoint
ENTRYPOINT ["/usr/local/bin/frr-entrypoint"]
