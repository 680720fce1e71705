'use strict';
// A counting TCP proxy: listens on 127.0.0.1 on a free port and forwards every
// connection to 127.0.0.1:TARGET_PORT, counting the bytes of each direction
// (everything the TCP payload carries: HTTP request/response lines, headers,
// chunked framing and bodies; not TCP/IP headers). Runs as its own process so
// that forwarding costs neither the client's nor the server's event loop.
//
//   node count_proxy.js TARGET_PORT      (a child of pouch_bench.js, with IPC)
// IPC: sends {port} once listening; answers {cmd:'counts'} with
// {counts:{up, down, connections}} (up: client -> server).
const net = require('net');

const target = Number(process.argv[2]);
if (!(target > 0) || !process.send) {
    console.error('usage: node count_proxy.js TARGET_PORT (as a child of pouch_bench.js)');
    process.exit(2);
}

let up = 0;
let down = 0;
let connections = 0;

const proxy = net.createServer((client) => {
    connections++;
    const server = net.connect(target, '127.0.0.1');
    client.on('data', (b) => { up += b.length; });
    server.on('data', (b) => { down += b.length; });
    client.pipe(server);
    server.pipe(client);
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
});

proxy.listen(0, '127.0.0.1', () => {
    process.send({ port: proxy.address().port });
});
proxy.on('error', (err) => {
    console.error('count_proxy: ' + err.message);
    process.exit(1);
});

process.on('message', (m) => {
    if (m && m.cmd === 'counts')
        process.send({ counts: { up, down, connections } });
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
