# syntax=docker/dockerfile:1
# Multi-stage build: a static airlock binary in a distroless image, run as
# a non-root user.
#
#   docker build -t airlock --build-arg VERSION=$(git describe --always) .
#   docker run -p 8080:8080 -v $PWD/airlock.yaml:/etc/airlock/airlock.yaml:ro airlock
#
# Inside a container the config must listen on a non-loopback address, so it
# needs tls (or, behind a TLS-terminating proxy, allow_insecure_listen: true).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOFLAGS=-trimpath \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/airlock ./cmd/airlock

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/airlock /usr/local/bin/airlock
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/airlock"]
CMD ["serve", "-config", "/etc/airlock/airlock.yaml"]
