# amtemu in a container. The default command runs the fleet a mounted
# scenario describes; its devices live on 127.x.y.z addresses, so run the
# container on the host's network to reach them from the host:
#
#   docker build -t amtemu .
#   docker run --rm --network host -v "$PWD/scenarios/smoke.toml:/scenario.toml:ro" amtemu
#
# One shard of a fleet split over N hosts or pods (see k8s/README.md):
#
#   docker run --rm --network host -v "$PWD/scenarios/smoke.toml:/scenario.toml:ro" \
#       -e AMTEMU_SHARD=0/2 amtemu
#
# One device instead, published on the host's loopback:
#
#   docker run --rm -p 127.0.0.1:16992-16995:16992-16995 amtemu serve --bind 0.0.0.0
FROM rust:1-bookworm AS build
WORKDIR /src
# The OpenSSL TLS backend (firmware rows rustls cannot serve) links libssl.
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p amtemu

FROM debian:bookworm-slim
# iproute2: the Kubernetes direct mode's init container routes the shard's
# address block with `ip route` (k8s/direct/); libssl3: the OpenSSL acceptor.
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 libssl3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/amtemu /usr/local/bin/amtemu
# The CA that issues the devices' certificates; mount a volume here to keep
# it (and trust it) across containers.
ENV AMTEMU_HOME=/var/lib/amtemu
VOLUME /var/lib/amtemu
EXPOSE 16992 16993 16994 16995
ENTRYPOINT ["amtemu"]
CMD ["fleet", "--scenario", "/scenario.toml", "--report-junit", "/var/lib/amtemu/report.xml"]
