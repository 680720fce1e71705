'use strict';
// The PouchDB peer of the fieldsync benchmarks (issue 8): the same visits
// (bench/dump_visits JSON lines) written to an on-disk PouchDB client A,
// replicated A -> server -> a fresh on-disk client B over loopback HTTP, with
// every byte between the clients and the server counted.
//
//   node pouch_bench.js VISITS.jsonl [--expect-raw-bytes N] [--batch-size N]
//        [--batches-limit N] [--insert-batch N] [--server-mode MODE]
//
// Pieces, all on 127.0.0.1:
//   server   pouch_server.js, a child process: express-pouchdb (mode
//            minimumForPouchDB by default: the HTTP API PouchDB replicates
//            with; its compression middleware gzips responses) over
//            pouchdb-node, LevelDB under the temp dir
//   proxy    count_proxy.js, a child process: a TCP proxy in front of the
//            server counting the bytes of each direction. "Bytes" are the
//            TCP payload: HTTP request and response lines, headers, chunked
//            framing and (gzipped, where the server chose to) bodies; not
//            TCP/IP headers, not the handshake.
//   A, B     pouchdb-node databases (LevelDB) under the temp dir, in this process
// Phases, each timed on its own:
//   insert   A.bulkDocs of all visits, --insert-batch (1000) per call
//   push     A -> server through the proxy (PouchDB.replicate, one-shot)
//   pull     server -> fresh B through the proxy
//   verify   B holds exactly the N visits with every field identical to the
//            input (every doc, every field), and the server holds N docs; not
//            timed
// Replication uses PouchDB's defaults (batch_size 100, batches_limit 10)
// unless --batch-size / --batches-limit say otherwise.
//
// stdout: one JSON object (the figures); stderr: progress and a summary.
// Exit status 0, or 1 on any failure (children stopped, temp dir removed).
const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const PouchDB = require('pouchdb-node');

const ID_BYTES = 16; // the customer id is 16 bytes in fieldsync; hex in this JSON

function usage(msg) {
    if (msg)
        console.error('pouch_bench: ' + msg);
    console.error('usage: node pouch_bench.js VISITS.jsonl [--expect-raw-bytes N] ' +
        '[--batch-size N] [--batches-limit N] [--insert-batch N] [--server-mode MODE]');
    process.exit(2);
}

function parseArgs(argv) {
    const o = { file: null, expectRaw: null, batchSize: null, batchesLimit: null,
        insertBatch: 1000, serverMode: 'minimumForPouchDB' };
    const num = (name, v) => {
        if (!/^[1-9][0-9]*$/.test(v || ''))
            usage(name + ' needs a positive integer');
        return Number(v);
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--expect-raw-bytes')
            o.expectRaw = num(a, argv[++i]);
        else if (a === '--batch-size')
            o.batchSize = num(a, argv[++i]);
        else if (a === '--batches-limit')
            o.batchesLimit = num(a, argv[++i]);
        else if (a === '--insert-batch')
            o.insertBatch = num(a, argv[++i]);
        else if (a === '--server-mode')
            o.serverMode = argv[++i] || usage('--server-mode needs a value');
        else if (a.startsWith('--') || o.file !== null)
            usage('unknown argument ' + a);
        else
            o.file = a;
    }
    if (o.file === null)
        usage();
    return o;
}

const log = (s) => process.stderr.write(s + '\n');
const now = () => Number(process.hrtime.bigint()) / 1e9;
const round = (x, d) => Number(x.toFixed(d));

// The visits and their raw bytes: the UTF-8 length of every text field plus
// 16 bytes per customer id, as dump_visits (and fieldsync) count them.
function readVisits(file) {
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
    if (lines.length === 0)
        throw new Error(file + ': no visits');
    const visits = lines.map((l) => JSON.parse(l));
    const fields = Object.keys(visits[0]).filter((k) => k !== 'id' && k !== 'customer');
    const keySig = ['id', 'customer', ...fields].join(',');
    let textBytes = 0;
    const seen = new Set();
    for (const v of visits) {
        if (Object.keys(v).join(',') !== keySig)
            throw new Error('visit ' + v.id + ' has other fields than the first');
        if (!/^[0-9a-f]{32}$/.test(v.id) || !/^[0-9a-f]{32}$/.test(v.customer))
            throw new Error('visit ' + v.id + ': id or customer is not 32 hex digits');
        if (seen.has(v.id))
            throw new Error('duplicate visit id ' + v.id);
        seen.add(v.id);
        for (const f of fields) {
            if (typeof v[f] !== 'string')
                throw new Error('visit ' + v.id + ': field ' + f + ' is not a string');
            textBytes += Buffer.byteLength(v[f], 'utf8');
        }
    }
    return { visits, fields, textBytes, rawBytes: textBytes + visits.length * ID_BYTES };
}

// A child process with an IPC channel that sends {port} when ready.
function startChild(script, args, what, children) {
    return new Promise((resolve, reject) => {
        const child = childProcess.fork(path.join(__dirname, script), args,
            { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        children.push(child);
        const fail = (why) => reject(new Error(what + ' ' + why));
        child.once('error', (e) => fail('failed: ' + e.message));
        child.once('exit', (code, sig) => fail('exited early (' + (sig || code) + ')'));
        child.once('message', (m) => {
            if (m && m.port > 0)
                resolve({ child, port: m.port });
            else
                fail('sent no port');
        });
    });
}

// Stops a child by its PID: SIGTERM, then SIGKILL after 5 s.
function stopChild(child) {
    if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve();
    return new Promise((resolve) => {
        const t = setTimeout(() => {
            try { process.kill(child.pid, 'SIGKILL'); } catch (e) { /* gone */ }
        }, 5000);
        child.once('exit', () => { clearTimeout(t); resolve(); });
        try { process.kill(child.pid, 'SIGTERM'); } catch (e) { clearTimeout(t); resolve(); }
    });
}

function proxyCounts(proxy) {
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('proxy did not answer')), 10000);
        const on = (m) => {
            if (m && m.counts) {
                clearTimeout(t);
                proxy.off('message', on);
                resolve(m.counts);
            }
        };
        proxy.on('message', on);
        proxy.send({ cmd: 'counts' });
    });
}

function dirBytes(dir) {
    let total = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        total += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
    }
    return total;
}

function versionOf(name, from) {
    const p = require.resolve(name + '/package.json', { paths: [from || __dirname] });
    return require(p).version;
}

// One-shot replication, with progress on stderr every 10 s.
async function replicate(label, source, target, opts, expect) {
    const t0 = now();
    let last = t0;
    const rep = PouchDB.replicate(source, target, opts);
    rep.on('change', (info) => {
        const t = now();
        if (t - last >= 10) {
            last = t;
            log(`  ${label}: ${info.docs_written} docs written in ${(t - t0).toFixed(1)} s ` +
                `(${Math.round(info.docs_written / (t - t0))}/s)`);
        }
    });
    const res = await rep;
    const seconds = now() - t0;
    if (!res.ok || res.status !== 'complete' || res.doc_write_failures !== 0 ||
        res.docs_written !== expect)
        throw new Error(`${label}: replication ended ${res.status}, ${res.docs_written} ` +
            `written, ${res.doc_write_failures} failures, expected ${expect}`);
    return seconds;
}

// Every document of db, compared field by field with the input.
async function verify(db, data) {
    const byId = new Map(data.visits.map((v) => [v.id, v]));
    const keys = ['customer', ...data.fields];
    let count = 0;
    let startkey;
    for (;;) {
        const opts = { include_docs: true, limit: 1000 };
        if (startkey !== undefined) {
            opts.startkey = startkey;
            opts.skip = 1;
        }
        const page = await db.allDocs(opts);
        if (page.rows.length === 0)
            break;
        for (const row of page.rows) {
            const doc = row.doc;
            const want = byId.get(doc._id);
            if (want === undefined)
                throw new Error('B holds an unexpected doc ' + doc._id);
            byId.delete(doc._id);
            const docKeys = Object.keys(doc).filter((k) => k !== '_id' && k !== '_rev');
            if (docKeys.length !== keys.length)
                throw new Error('doc ' + doc._id + ' has ' + docKeys.length + ' fields, want ' +
                    keys.length);
            for (const k of keys) {
                if (doc[k] !== want[k])
                    throw new Error('doc ' + doc._id + ': field ' + k + ' differs');
            }
            count++;
        }
        startkey = page.rows[page.rows.length - 1].id;
    }
    if (count !== data.visits.length || byId.size !== 0)
        throw new Error(`B holds ${count} of ${data.visits.length} visits`);
    return count;
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const children = [];
    const dbs = [];
    let tmp = null;
    const cleanup = async () => {
        for (const db of dbs.splice(0)) {
            try { await db.close(); } catch (e) { /* already closed */ }
        }
        await Promise.all(children.splice(0).map(stopChild));
        if (tmp !== null) {
            fs.rmSync(tmp, { recursive: true, force: true });
            tmp = null;
        }
    };
    const onSignal = (sig) => {
        log('pouch_bench: ' + sig + ', cleaning up');
        cleanup().finally(() => process.exit(1));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    try {
        const data = readVisits(o.file);
        const n = data.visits.length;
        if (o.expectRaw !== null && o.expectRaw !== data.rawBytes)
            throw new Error(`raw field bytes ${data.rawBytes} differ from dump_visits' ` +
                `${o.expectRaw}`);
        log(`pouch_bench: ${n} visits, ${data.rawBytes} raw field bytes ` +
            `(${(data.rawBytes / n).toFixed(1)}/visit), node ${process.version}`);

        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fieldsync-pouch-'));
        const serverDir = path.join(tmp, 'server');
        fs.mkdirSync(serverDir);
        const server = await startChild('pouch_server.js', [serverDir, o.serverMode],
            'server', children);
        const proxy = await startChild('count_proxy.js', [String(server.port)], 'proxy',
            children);
        log(`  server pid ${server.child.pid} on 127.0.0.1:${server.port} (${o.serverMode}), ` +
            `proxy pid ${proxy.child.pid} on 127.0.0.1:${proxy.port}`);

        const repOpts = {};
        if (o.batchSize !== null)
            repOpts.batch_size = o.batchSize;
        if (o.batchesLimit !== null)
            repOpts.batches_limit = o.batchesLimit;

        // insert
        const a = new PouchDB(path.join(tmp, 'client-a'));
        dbs.push(a);
        const docs = data.visits.map((v) => {
            const d = { _id: v.id };
            for (const k of Object.keys(v))
                if (k !== 'id')
                    d[k] = v[k];
            return d;
        });
        let t0 = now();
        for (let i = 0; i < n; i += o.insertBatch) {
            const res = await a.bulkDocs(docs.slice(i, i + o.insertBatch));
            const bad = res.find((r) => !r.ok);
            if (bad)
                throw new Error('insert into A failed: ' + JSON.stringify(bad));
        }
        const insertS = now() - t0;
        const aInfo = await a.info();
        if (aInfo.doc_count !== n)
            throw new Error(`A holds ${aInfo.doc_count} docs after inserting ${n}`);
        log(`  insert: ${n} visits into A in ${insertS.toFixed(2)} s ` +
            `(${Math.round(n / insertS)}/s)`);

        // push
        const url = `http://127.0.0.1:${proxy.port}/visits`;
        const remoteA = new PouchDB(url);
        dbs.push(remoteA);
        let c0 = await proxyCounts(proxy.child);
        const pushS = await replicate('push', a, remoteA, repOpts, n);
        let c1 = await proxyCounts(proxy.child);
        const push = { up: c1.up - c0.up, down: c1.down - c0.down,
            connections: c1.connections - c0.connections };
        log(`  push: ${pushS.toFixed(2)} s (${Math.round(n / pushS)} visits/s), ` +
            `${push.up} bytes up, ${push.down} down ` +
            `(${((push.up + push.down) / n).toFixed(1)}/visit), ${push.connections} connections`);
        await remoteA.close();
        await a.close();
        dbs.length = 0;

        // pull into a fresh client
        const b = new PouchDB(path.join(tmp, 'client-b'));
        dbs.push(b);
        const remoteB = new PouchDB(url);
        dbs.push(remoteB);
        c0 = await proxyCounts(proxy.child);
        const pullS = await replicate('pull', remoteB, b, repOpts, n);
        c1 = await proxyCounts(proxy.child);
        const pull = { up: c1.up - c0.up, down: c1.down - c0.down,
            connections: c1.connections - c0.connections };
        log(`  pull: ${pullS.toFixed(2)} s (${Math.round(n / pullS)} visits/s), ` +
            `${pull.up} bytes up, ${pull.down} down ` +
            `(${((pull.up + pull.down) / n).toFixed(1)}/visit), ${pull.connections} connections`);

        // verify: B field by field, the server's count directly (not through the proxy)
        t0 = now();
        const verified = await verify(b, data);
        const direct = new PouchDB(`http://127.0.0.1:${server.port}/visits`);
        dbs.push(direct);
        const sInfo = await direct.info();
        if (sInfo.doc_count !== n)
            throw new Error(`the server holds ${sInfo.doc_count} docs, want ${n}`);
        log(`  verify: B holds all ${verified} visits, every field identical; server holds ` +
            `${sInfo.doc_count} (${(now() - t0).toFixed(1)} s, not timed)`);

        for (const db of dbs.splice(0))
            await db.close();
        await Promise.all(children.splice(0).map(stopChild));
        const disk = {
            client_a: dirBytes(path.join(tmp, 'client-a')),
            server: dirBytes(serverDir),
            client_b: dirBytes(path.join(tmp, 'client-b')),
        };

        const pouchDir = path.dirname(require.resolve('pouchdb-node/package.json'));
        const result = {
            peer: 'pouchdb',
            versions: {
                node: process.version,
                'pouchdb-node': versionOf('pouchdb-node'),
                leveldown: versionOf('leveldown', pouchDir),
                'express-pouchdb': versionOf('express-pouchdb'),
                express: versionOf('express'),
                compression: versionOf('compression',
                    path.dirname(require.resolve('express-pouchdb/package.json'))),
            },
            settings: {
                adapter: 'leveldb (pouchdb-node, on disk) for A, B and the server',
                server_mode: o.serverMode,
                batch_size: o.batchSize !== null ? o.batchSize : 'default (100)',
                batches_limit: o.batchesLimit !== null ? o.batchesLimit : 'default (10)',
                insert_batch: o.insertBatch,
                transport: 'HTTP/1.1 on 127.0.0.1 through a counting TCP proxy',
                bytes: 'TCP payload both directions: HTTP request/response lines, headers, ' +
                    'chunked framing, bodies (responses gzipped by the server where it chose to)',
                total_s: 'push_s + pull_s (insert_s not included)',
                total_bytes: 'push_bytes_up + push_bytes_down + pull_bytes_up + pull_bytes_down',
            },
            visits: n,
            raw_field_bytes: data.rawBytes,
            text_field_bytes: data.textBytes,
            insert_s: round(insertS, 3),
            push_s: round(pushS, 3),
            push_bytes_up: push.up,
            push_bytes_down: push.down,
            push_connections: push.connections,
            pull_s: round(pullS, 3),
            pull_bytes_up: pull.up,
            pull_bytes_down: pull.down,
            pull_connections: pull.connections,
            total_s: round(pushS + pullS, 3),
            total_bytes: push.up + push.down + pull.up + pull.down,
            disk_bytes: disk,
        };
        await cleanup();
        log(`pouch_bench: total ${result.total_s} s, ${result.total_bytes} bytes on the wire ` +
            `(${(result.total_bytes / data.rawBytes).toFixed(2)}x raw field bytes)`);
        process.stdout.write(JSON.stringify(result) + '\n');
    } catch (err) {
        log('pouch_bench: ' + (err && err.stack ? err.stack : err));
        await cleanup();
        process.exitCode = 1;
    }
}

main();
