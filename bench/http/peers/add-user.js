#!/usr/bin/env node
'use strict';
// Adds a user (and its organization, when new) to the peer's database directly, like
// `chatbotmgr-server user add`: the password is read from standard input (first line),
// never from the command line. Creates the schema when the database is empty.
//
//   node add-user.js --storage SPEC --email bench@example.com --org "Bench Org" <password-file
const { parseArgs } = require('node:util');
const fs = require('node:fs');
const { openStorage } = require('./storage');
const creds = require('./credentials');

async function main() {
  const { values } = parseArgs({
    options: {
      storage: { type: 'string', default: process.env.PEER_STORAGE },
      email: { type: 'string' },
      org: { type: 'string' },
    },
  });
  if (!values.email || !values.org) throw new Error('--email and --org are required');
  const password = fs.readFileSync(0, 'utf8').split('\n')[0];
  if (!password) throw new Error('no password on standard input');
  const store = await openStorage(values.storage, { poolSize: 1 });
  try {
    await store.addUser({ org: creds.newId(), user: creds.newId() }, values.email, values.org,
                        await creds.hashPassword(password));
  } finally {
    await store.close();
  }
}

main().catch((e) => {
  console.error(`peer add-user: ${e.message}`);
  process.exit(1);
});
