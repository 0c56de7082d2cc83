# The relay's container image. Build with BuildKit (docker buildx build, or DOCKER_BUILDKIT=1):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     --build-arg SOURCE=https://github.com/OWNER/tokenplace-relay -t tokenplace-relay .
# Both bases are pinned by digest; tests substitute local stand-ins through these two build args.
ARG BUILD_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a

# Both stages run on the machine doing the build, whatever the target platform: the compiled relay is
# plain JavaScript and the production dependencies have no native code, so one copy serves every target.
# --ignore-scripts: the only install script is the `node` devDependency's, which fetches a second Node 24
# binary that the build image already provides.
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY relay/src relay/src
COPY relay/node relay/node
RUN npm run build

# A clean production-only install (npm prune would leave empty scope folders of dev packages behind).
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS production-dependencies
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE}
ARG VERSION=""
ARG REVISION=""
ARG CREATED=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="tokenplace-relay" \
      org.opencontainers.image.description="Hardened relay that forwards browser traffic to a token.place GPU host." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"
# An empty TOKENPLACE_RELAY_VERSION makes the relay read its version from /app/package.json.
ENV NODE_ENV=production \
    RELAY_PORT=5010 \
    TOKENPLACE_RELAY_VERSION="${VERSION}"
WORKDIR /app
# Owned by root and not writable by the relay's user; the relay writes nothing but stdout.
COPY --from=build /src/package.json ./package.json
COPY --from=production-dependencies /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
EXPOSE 5010
# Node is PID 1 and handles SIGTERM itself (drain, finish requests in flight, exit 0); it starts no
# child processes, so there is nothing for an init to reap. On a host with plenty of memory V8 grows
# its young generation to tens of MB under load although the relay keeps about 20 MB live; an 8 MB
# semi-space bounds it. 4 MB spent about twice the CPU in scavenges per request (docs/benchmarks.md).
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=8", "dist/relay/node/main.js"]
