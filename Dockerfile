# Builds amtemu and runs the default device. Inside the container the device
# binds the container's own address so a published port reaches it:
#   docker build -t amtemu . && docker run --rm -p 127.0.0.1:16992:16992 amtemu
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p amtemu

FROM debian:bookworm-slim
COPY --from=build /src/target/release/amtemu /usr/local/bin/amtemu
EXPOSE 16992
ENTRYPOINT ["amtemu"]
CMD ["serve", "--bind", "0.0.0.0"]
