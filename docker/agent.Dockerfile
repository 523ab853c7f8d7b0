# The frr-speaker agent. Build from the repository root:
#   docker build -f docker/agent.Dockerfile -t frr-speaker:dev .
# BUILDER and RUNTIME default to the public images; `make images` passes local ones made from
# Debian's packages (e2e/images/bases.sh), as no registry is reachable there.
ARG BUILDER=rust:1.89-bookworm
ARG RUNTIME=gcr.io/distroless/cc-debian12:nonroot
FROM ${BUILDER} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
COPY benches benches
# The crate registry and the target directory are build caches (BuildKit and buildah both keep
# them between builds), so a rebuild compiles only what changed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin frr-speaker \
 && cp target/release/frr-speaker /frr-speaker

# Small runtime: glibc and libgcc only (the binary links nothing else; TLS is rustls), no shell,
# non-root (uid 65532). It reaches FRR through the vty sockets in the shared /var/run/frr.
FROM ${RUNTIME}
COPY --from=build /frr-speaker /usr/local/bin/frr-speaker
# glibc's allocator, kept small: two arenas (the agent runs two worker threads and a few short
# blocking ones; an arena per thread kept freed memory apart), and blocks of 128 KiB or more mapped
# and trimmed at once (by default that threshold grows to whatever was freed last, and big freed
# buffers then stay in the heap). Peak RSS in Kubernetes mode at 10,000 Services 54 -> 47 MiB, in
# file mode at 100,000 229-244 -> 218-219 MiB (`benches/kube_scale.rs`, `benches/lab_apply.rs`; the
# lab's agents run with this same line, read from here by tests/common). One arena and 64 KiB
# thresholds gave 45 MiB but slowed the parallel parse of a 100,000-Service cold start by ~1 s.
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/frr-speaker"]
