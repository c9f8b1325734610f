# sipfleet: one image for every component (dispatcher, switch-sim, ops-api); the compose file picks
# the sub-command. Node 24 runs the TypeScript sources directly (type stripping); the one compiled
# part is the dispatcher's batched UDP I/O addon, built in its own stage (it needs gcc).
FROM node:24-slim AS native
WORKDIR /build
COPY scripts/build-native.sh ./scripts/
COPY dispatcher/transport/native/udp-io.c ./dispatcher/transport/native/
RUN bash scripts/build-native.sh && rm -rf /var/lib/apt/lists/*

FROM node:24-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so that source edits do not invalidate this layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY bin ./bin
COPY dispatcher ./dispatcher
COPY switch-sim ./switch-sim
COPY shared ./shared
COPY ops-api ./ops-api
COPY --from=native /build/dispatcher/transport/native/build/udp-io.node ./dispatcher/transport/native/build/udp-io.node

# The image's unprivileged user (uid 1000); SIP ports above 1024 need no capability.
USER node

# SIP over UDP/TCP, SIP over TLS, the node's HTTP endpoint (health, metrics).
EXPOSE 5060/udp 5060/tcp 5061/tcp 9060/tcp

ENTRYPOINT ["node", "bin/sipfleet.ts"]
CMD ["help"]
