# One image for every role (ROLE selects what a process runs). Build: `docker build -t trading-platform:dev .`
#
# Stage 1 compiles TypeScript with every dependency, then drops the dev dependencies; stage 2
# is a slim runtime holding production node_modules, dist/ and package.json only, running as a
# non-root user with `node` itself as the entry point: SIGTERM reaches the app (which drains)
# and the app's exit code is the container's. npm is removed from the runtime image: nothing
# there runs it, and it would sit between the kubelet's signal and the app.
# test/unit/dockerfile.test.ts checks what can be checked without a container engine.
ARG NODE_IMAGE=node:20.20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# The root filesystem is read-only on Kubernetes and /tmp an emptyDir there: development signing
# keys and the embedded database (when no DATABASE_URL is set) go under /tmp.
ENV NODE_ENV=production DATA_DIR=/tmp/trading-platform
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 10001:10001
EXPOSE 8080 50051
ENTRYPOINT ["node", "--enable-source-maps", "--import", "./dist/telemetry/instrument.js", "dist/main.js"]
