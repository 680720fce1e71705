'use strict';
// The PouchDB peer's server: express-pouchdb on pouchdb-node (LevelDB on disk
// under DIR), listening on 127.0.0.1 on a free port. Started by pouch_bench.js
// as a child process with an IPC channel; sends {port} once listening and
// exits when told to, on SIGTERM, or when its parent goes away.
//
//   node pouch_server.js DIR MODE      (MODE: an express-pouchdb mode)
const path = require('path');
const express = require('express');
const expressPouchDB = require('express-pouchdb');
const PouchDB = require('pouchdb-node');

const [dir, mode] = process.argv.slice(2);
if (!dir || !mode || !process.send) {
    console.error('usage: node pouch_server.js DIR MODE (as a child of pouch_bench.js)');
    process.exit(2);
}

const ServerPouch = PouchDB.defaults({ prefix: dir + path.sep });
const app = express();
app.use('/', expressPouchDB(ServerPouch, {
    mode,
    // Only used by the fullCouchDB mode: keep its files in the temp dir.
    configPath: path.join(dir, 'config.json'),
    logPath: path.join(dir, 'log.txt'),
}));

const server = app.listen(0, '127.0.0.1', () => {
    process.send({ port: server.address().port });
});
server.on('error', (err) => {
    console.error('pouch_server: ' + err.message);
    process.exit(1);
});

function stop() {
    server.close();
    process.exit(0);
}
process.on('SIGTERM', stop);
process.on('disconnect', stop);
