#!/usr/bin/env node
'use strict';
// The peer server for bench/http/run.sh and postgres.sh.
//
//   node server.js --storage sqlite:/tmp/peer.db [--listen 127.0.0.1:0]
//   node server.js --storage postgresql://postgres@127.0.0.1:5432/peer [--pg-pool 8]
//
// --storage defaults to PEER_STORAGE, --pg-pool to PEER_PG_POOL (8), --listen to
// 127.0.0.1:0 (a free port). Prints "listening on http://HOST:PORT" once it serves, as
// chatbotmgr-server does. SIGTERM or SIGINT: stop accepting, finish, close storage, exit 0.
const { parseArgs } = require('node:util');
const { openStorage } = require('./storage');
const { buildApp } = require('./app');

async function main() {
  const { values } = parseArgs({
    options: {
      storage: { type: 'string', default: process.env.PEER_STORAGE },
      listen: { type: 'string', default: '127.0.0.1:0' },
      'pg-pool': { type: 'string', default: process.env.PEER_PG_POOL ?? '8' },
    },
  });
  const m = /^(.+):(\d+)$/.exec(values.listen);
  if (!m) throw new Error('--listen must be HOST:PORT');
  const poolSize = Number(values['pg-pool']);
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 100) throw new Error('--pg-pool: 1 to 100');

  const store = await openStorage(values.storage, { poolSize });
  const app = buildApp(store, { origin: `http://${values.listen}` });
  await app.listen({ host: m[1], port: Number(m[2]) });
  const { address, port } = app.server.address();
  console.log(`peer (Fastify, ${store.kind}${store.kind === 'postgres' ? `, pool ${poolSize}` : ''}) listening on http://${address}:${port}`);

  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    await app.close();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`peer: ${e.message}`);
  process.exit(1);
});
