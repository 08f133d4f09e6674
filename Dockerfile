# Build: a release binary with everything (migrations, templates, static files) compiled in.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p consilium && cp target/release/consilium /consilium

# Run: a small Debian with the time-zone database, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /data consilium \
    && mkdir /data && chown consilium /data
COPY --from=build /consilium /usr/local/bin/consilium
COPY --from=build /src/models /models
USER consilium
ENV CONSILIUM_BIND=0.0.0.0:8080 CONSILIUM_DATA_DIR=/data CONSILIUM_LOG_FORMAT=json \
    CONSILIUM_MODELS_DIR=/models
EXPOSE 8080 40000-40199/udp
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["consilium"]
CMD ["serve"]
