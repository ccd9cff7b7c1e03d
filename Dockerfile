# syntax=docker/dockerfile:1

# latchkey's images for those who build with Docker (BuildKit), one component
# at a time, for any platform Go builds:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg COMPONENT=latchkey-webhook \
#     --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     -t ghcr.io/latchkey-dev/latchkey-webhook:v0.1.0 .
#
# COMPONENT is latchkey-controller (the default), latchkey-webhook,
# latchkey-resolver or latchkey-env. `make images` builds these images without
# a daemon (hack/images): the binaries are built with the same flags, so they
# are the same bytes with the same Go release, but its images hold only the
# binary and a CA bundle, so their digests differ from these.

ARG COMPONENT=latchkey-controller

# The build runs on the builder's platform and cross-compiles: no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH COMPONENT
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The flags of internal/devtools/ociimage's reproducible build: static, no paths, no
# VCS stamp, no build ID; instruction set levels pinned.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOAMD64=v1 GOARM64=v8.0 \
    go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" \
      -o /out/$COMPONENT ./cmd/$COMPONENT

# distroless's static image: CA roots, the nonroot user, no shell.
FROM gcr.io/distroless/static-debian12:nonroot AS base
ARG VERSION=dev REVISION=unknown
LABEL org.opencontainers.image.source=https://github.com/latchkey-dev/latchkey \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.revision=$REVISION
USER 65532:65532

# One stage per component, as ENTRYPOINT takes no build argument; the last
# line picks the stage COMPONENT names. The binary is /<component>, where the
# chart and the webhook's init container expect it.
FROM base AS latchkey-controller
COPY --from=build /out/latchkey-controller /latchkey-controller
ENTRYPOINT ["/latchkey-controller"]

FROM base AS latchkey-webhook
COPY --from=build /out/latchkey-webhook /latchkey-webhook
ENTRYPOINT ["/latchkey-webhook"]

FROM base AS latchkey-resolver
COPY --from=build /out/latchkey-resolver /latchkey-resolver
ENTRYPOINT ["/latchkey-resolver"]

FROM base AS latchkey-env
COPY --from=build /out/latchkey-env /latchkey-env
ENTRYPOINT ["/latchkey-env"]

FROM ${COMPONENT}
