# syntax=docker/dockerfile:1
# mcpgate image (DESIGN.md §8): multi-stage, production dependencies only, non-root, Node LTS, HOST=::.

# --- build: dev dependencies + TypeScript → dist/ ---------------------------------------------------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies, compiled code, SQL migrations ----------------------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# Put the `mcpgate` bin on PATH so `mcpgate serve` / `mcpgate migrate` (the Fly release_command) resolve.
RUN chmod +x dist/cli.js && ln -s /app/dist/cli.js /usr/local/bin/mcpgate
# Fly's proxy reaches the Machine over IPv6 (6PN), so listen on all interfaces, v4 and v6.
ENV HOST=:: PORT=8080
EXPOSE 8080
# The `node` user (uid 1000) ships with the official image; the app files stay root-owned and read-only to it.
USER node
CMD ["mcpgate", "serve"]
