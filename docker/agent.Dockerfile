# The frr-speaker agent. Build from the repository root:
#   docker build -f docker/agent.Dockerfile -t frr-speaker:dev .
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
COPY benches benches
RUN cargo build --release --locked --bin frr-speaker

# Small runtime: glibc and libgcc only (the binary links nothing else; TLS is rustls), no shell,
# non-root (uid 65532). It reaches FRR through the vty sockets in the shared /var/run/frr.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/frr-speaker /usr/local/bin/frr-speaker
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/frr-speaker"]
