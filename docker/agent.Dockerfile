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
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/frr-speaker"]
