# syntax=docker/dockerfile:1
#
# Stampede: one image holding both binaries, /usr/local/bin/master and
# /usr/local/bin/worker (the Kubernetes manifests in deploy/k8s pick one with
# `command:`).
#
#   docker build -t stampede:dev .                    # static, no cgo, distroless/static, non-root
#   docker build --target gpu -t stampede:dev-gpu .   # cgo + NVIDIA GPU telemetry, glibc base
#   docker build --build-arg VERSION=$(git describe --tags --always) ...
#
#   docker run --rm stampede:dev worker --master 10.0.0.5:5557 --token ...
#
# The default image has no GPU telemetry: go-nvml needs cgo to load libnvidia-ml, so a
# static build reports "NVML support not built in" and carries on. Use the `gpu`
# target for workers (or `worker --agent`) on GPU nodes; see deploy/k8s/README.md.

ARG GO_VERSION=1.26
ARG NODE_VERSION=22
# The gpu target runs what the builder linked against glibc: keep the builder's
# Debian release (trixie = 13) and the runtime's (distroless *-debian13) the same.
ARG DEBIAN=trixie

# The dashboard's browser assets (uPlot) from the npm registry, as `make web` does.
# Platform independent: built once on the build machine.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-${DEBIAN}-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir /vendor \
 && cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css /vendor/

# Static binaries, cross-compiled on the build machine for the target platform.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
COPY --from=web /vendor/ web/vendor/
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    for cmd in master worker; do \
      CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
        go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/$cmd ./cmd/$cmd || exit 1; \
    done

# cgo binaries for GPU telemetry, built natively for the target platform (cgo does
# not cross-compile without a cross toolchain).
FROM golang:${GO_VERSION}-${DEBIAN} AS build-gpu
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
COPY --from=web /vendor/ web/vendor/
ARG VERSION=dev
# go-nvml's C header warns about deprecated NVML calls (as in the Makefile).
ENV CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    for cmd in master worker; do \
      CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/$cmd ./cmd/$cmd || exit 1; \
    done

# GPU image: glibc (distroless/base) so go-nvml can dlopen libnvidia-ml.so.1, which
# the NVIDIA container toolkit mounts into the container at run time; nothing of
# NVIDIA's is in the image. NVML needs only the "utility" driver capability.
FROM gcr.io/distroless/base-debian13:nonroot AS gpu
COPY --from=build-gpu /out/master /out/worker /usr/local/bin/
ENV NVIDIA_DRIVER_CAPABILITIES=utility
USER 65532:65532
EXPOSE 5557 8089 8080
CMD ["master", "-h"]

# Default image (last stage): static binaries on distroless/static, non-root.
FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/master /out/worker /usr/local/bin/
USER 65532:65532
EXPOSE 5557 8089 8080
CMD ["master", "-h"]
