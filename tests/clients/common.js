'use strict';
// Shared helpers for the node client drivers (meshcommander.js, wsman-messages.js).
//
// Driver contract: `DRIVER HOST PORT USER PASS OP [ARGS...] [--tls]`.
// The last line on stdout is one JSON object; {"ok":true,...} with exit 0 on
// success, {"ok":false,"error":"..."} with a non-zero exit on failure.

const path = require('path');
const os = require('os');
const util = require('util');

// The client libraries log with console.log (e.g. amt-xml.js "Unable to parse XML");
// keep stdout for the driver's JSON line.
console.log = (...a) => process.stderr.write(util.format(...a) + '\n');
console.info = console.log;

function prefix() {
    return process.env.AMT_CLIENTS_PREFIX || path.join(os.homedir(), '.cache', 'amtemu-clients');
}

function nodeModule(name) {
    return path.join(prefix(), 'node', 'node_modules', name);
}

// Only ever talk to this machine: the tests run the emulator on loopback.
function isLoopback(host) {
    if (host === 'localhost' || host === '::1' || host === '[::1]') return true;
    const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
    return m != null && m.slice(1).every((x) => Number(x) <= 255);
}

let finished = false;

function emit(obj, code) {
    if (finished) return;
    finished = true;
    process.stdout.write(JSON.stringify(obj) + '\n');
    // Let stdout drain before exiting.
    process.exitCode = code;
    setImmediate(() => process.exit(code));
}

function succeed(client, op, fields) {
    emit(Object.assign({ ok: true, client, op }, fields), 0);
}

function fail(client, op, error, fields) {
    emit(Object.assign({ ok: false, client, op, error: String(error) }, fields || {}), 1);
}

// Parse `HOST PORT USER PASS OP [ARGS...]` plus `--tls` / `--no-tls` anywhere.
function parseArgs(client, usage) {
    const argv = process.argv.slice(2);
    const flags = new Set(argv.filter((a) => a.startsWith('--')));
    const pos = argv.filter((a) => !a.startsWith('--'));
    if (pos.length < 5) {
        process.stderr.write(usage + '\n');
        fail(client, pos[4] || '', 'usage: ' + usage.split('\n')[0]);
        return null;
    }
    const [host, portStr, user, pass, op, ...args] = pos;
    const port = Number(portStr);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
        fail(client, op, 'bad port ' + portStr);
        return null;
    }
    if (!isLoopback(host) && process.env.AMT_CLIENTS_ALLOW_REMOTE !== '1') {
        fail(client, op, 'refusing non-loopback host ' + host + ' (set AMT_CLIENTS_ALLOW_REMOTE=1 to override)');
        return null;
    }
    let tls = port === 16993;
    if (flags.has('--tls')) tls = true;
    if (flags.has('--no-tls')) tls = false;
    return { host, port, user, pass, op, args, tls, flags };
}

// Kill the driver if the client library never calls back (hang, dropped socket...).
function watchdog(client, op, seconds) {
    const s = Number(process.env.AMT_DRIVER_TIMEOUT || seconds || 60);
    const t = setTimeout(() => fail(client, op, 'timeout: no answer from the client library after ' + s + ' s'), s * 1000);
    t.unref();
    return t;
}

// "on" / "off" / ... → DMTF PowerState numbers used by the clients.
const POWER_WORDS = { on: 2, up: 2, poweron: 2, cycle: 5, powercycle: 5, off: 8, down: 8, poweroff: 8, reset: 10, sleep: 4, standby: 4, hibernate: 7 };

function powerNumber(word) {
    if (word == null) return NaN;
    const w = String(word).toLowerCase();
    if (POWER_WORDS[w] != null) return POWER_WORDS[w];
    return /^\d+$/.test(w) ? Number(w) : NaN;
}

module.exports = { prefix, nodeModule, isLoopback, succeed, fail, parseArgs, watchdog, powerNumber };
