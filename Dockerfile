# syntax=docker/dockerfile:1
#
# tokenhook's image: one image for both binaries. /manager (the operator, the
# entrypoint) and /hookserver (the token hook service the operator deploys, by
# default from this same image), static, on distroless "static" as the
# nonroot user 65532, with its CA bundle (the manager calls Okta over HTTPS).
#
#   docker build -t tokenhook:dev .          (or: make docker-build IMG=...)
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... --push .
#
# Without a container engine, 'make image-tarball' builds the same layout
# from scratch into an OCI tarball (hack/image).

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS builder
ARG TARGETOS=linux
ARG TARGETARCH
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
# Dependencies first, so that they stay cached while the code changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
# Only the packages the binaries are built from; see .dockerignore.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/hookserver ./cmd/hookserver

# distroless static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532), and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="tokenhook" \
      org.opencontainers.image.description="Kubernetes operator for Okta token inline hooks: the manager and the hook server" \
      org.opencontainers.image.source="https://github.com/tokenhook/tokenhook"
WORKDIR /
COPY --from=builder /out/manager /out/hookserver /
USER 65532:65532
ENTRYPOINT ["/manager"]
