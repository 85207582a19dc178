'use strict';
// Picks the storage flavour from a spec (the --storage flag or PEER_STORAGE):
//   sqlite:PATH                         better-sqlite3 on the file PATH
//   postgresql://USER@HOST:PORT/DB      node-postgres, a pool of poolSize connections
async function openStorage(spec, { poolSize = 8 } = {}) {
  if (!spec) throw new Error('no storage given (--storage or PEER_STORAGE)');
  if (spec.startsWith('sqlite:')) return require('./store-sqlite').open(spec.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(spec)) return require('./store-postgres').open(spec, poolSize);
  throw new Error('storage must be sqlite:PATH or postgresql://...');
}

module.exports = { openStorage };
