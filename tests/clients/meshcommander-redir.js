#!/usr/bin/env node
'use strict';
// Drives MeshCommander's browser redirection stack, as shipped in npm
// meshcentral (public/scripts/amt-redir-ws-0.1.0.js with amt-ider-ws-0.0.1.js
// and common-0.0.1.js), from node. The browser talks to AMT through
// MeshCentral's websocket relay; here a small WebSocket stand-in opens the TCP
// (or TLS) connection to the redirection port itself and passes the bytes
// through unchanged, so the device sees exactly what the relay would forward.
//
//   node meshcommander-redir.js HOST PORT USER PASS sol STEP... [--tls]
//       STEP: expect:TEXT | send:TEXT ("\r" escapes CR) | sleep:SECS
//   node meshcommander-redir.js HOST PORT USER PASS ider IMAGE.iso [--tls]
//       serves IMAGE as the CD (start mode "now") until the device has read
//       AMT_IDER_UNTIL_BYTES (default 2048) bytes, then closes.
// Prints one JSON object as the last stdout line; exit 0 only on success.

const fs = require('fs');
const net = require('net');
const tlsLib = require('tls');
const path = require('path');
const vm = require('vm');
const crypto = require('crypto');
const C = require('./common');

const CLIENT = 'meshcommander-redir';
const USAGE = 'meshcommander-redir.js HOST PORT USER PASS sol STEP... | ider IMAGE [--tls]';

const a = C.parseArgs(CLIENT, USAGE);
if (a == null) return;
C.watchdog(CLIENT, a.op, 90);

// ------------------------------------------------------------ browser stand-ins
// A WebSocket whose URL is MeshCentral's relay URL; it connects straight to
// the host and port named in it.
class RelaySocket {
    constructor(url) {
        const q = new URL(url).searchParams;
        this.readyState = 0;
        this.binaryType = 'arraybuffer';
        const host = q.get('host'), port = Number(q.get('port'));
        if (!C.isLoopback(host)) throw new Error('refusing non-loopback host ' + host);
        const onConnect = () => { this.readyState = 1; if (this.onopen) this.onopen(); };
        // MeshCentral's relay opens AMT's TLS redirection port with
        // static-RSA AES suites only (and TLS 1.0 for old firmware).
        const tlsOptions = {
            host, port, rejectUnauthorized: false,
            ciphers: 'RSA+AES:!aNULL:!MD5:!DSS', minVersion: 'TLSv1',
        };
        this.sock = (q.get('tls') === '1')
            ? tlsLib.connect(tlsOptions, onConnect)
            : net.connect({ host, port }, onConnect);
        this.sock.setNoDelay(true);
        this.sock.on('data', (d) => {
            const ab = d.buffer.slice(d.byteOffset, d.byteOffset + d.length);
            if (this.onmessage) this.onmessage({ data: ab });
        });
        this.sock.on('close', () => {
            const was = this.readyState;
            this.readyState = 3;
            if (was !== 3 && this.onclose) this.onclose();
        });
        this.sock.on('error', (e) => { stats.socketError = String(e); });
    }
    send(ab) { this.sock.write(Buffer.from(ab)); }
    close() { this.readyState = 3; this.sock.destroy(); }
}
RelaySocket.OPEN = 1;

// FileReader over a Buffer "file" (the IDE-R module reads slices of it).
class BufferFileReader {
    readAsBinaryString(buf) {
        setImmediate(() => { this.result = buf.toString('latin1'); this.onload(); });
    }
}

const stats = {};
globalThis.window = { location: { protocol: 'http:', host: 'relay', pathname: '/commander.htm' } };
globalThis.WebSocket = RelaySocket;
globalThis.FileReader = BufferFileReader;
globalThis.urlvars = process.env.AMT_IDER_TRACE ? { idertrace: 1 } : {};
// MeshCommander's hex_md5 hashes "binary strings" (one byte per char).
globalThis.hex_md5 = (s) => crypto.createHash('md5').update(Buffer.from(s, 'latin1')).digest('hex');

const scripts = path.join(C.nodeModule('meshcentral'), 'public', 'scripts');
for (const f of ['common-0.0.1.js', 'amt-redir-ws-0.1.0.js', 'amt-ider-ws-0.0.1.js']) {
    const file = path.join(scripts, f);
    if (!fs.existsSync(file)) { C.fail(CLIENT, a.op, 'meshcentral not installed: ' + file); return; }
    vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
}

// ------------------------------------------------------------------- SOL
function sol() {
    let output = '', mark = 0;
    const steps = a.args.slice();
    const done = [];
    const terminal = {
        protocol: 1,
        xxStateChange(state) {
            stats.states = (stats.states || []).concat(state);
            if (state === 3) next();
            if (state === 0 && steps.length) C.fail(CLIENT, 'sol', 'session closed', { steps_done: done, output_tail: output.slice(-1500), stats });
        },
        ProcessData(text) { output += text; },
    };
    const redir = CreateAmtRedirect(terminal);
    function next() {
        if (!steps.length) {
            redir.Stop();
            C.succeed(CLIENT, 'sol', { steps_done: done, output_tail: output.slice(-1500), stats });
            return;
        }
        const step = steps[0];
        const i = step.indexOf(':');
        const kind = step.slice(0, i), arg = step.slice(i + 1);
        if (kind === 'expect') {
            const deadline = Date.now() + 30000;
            const poll = () => {
                const at = output.indexOf(arg, mark);
                if (at >= 0) { mark = at + arg.length; done.push(steps.shift()); next(); }
                else if (Date.now() > deadline) C.fail(CLIENT, 'sol', 'step failed: ' + step, { steps_done: done, output_tail: output.slice(-1500), stats });
                else setTimeout(poll, 50);
            };
            poll();
        } else if (kind === 'send') {
            redir.Send(arg.replace(/\\r/g, '\r').replace(/\\n/g, '\n'));
            done.push(steps.shift());
            next();
        } else if (kind === 'sleep') {
            setTimeout(() => { done.push(steps.shift()); next(); }, Number(arg) * 1000);
        } else {
            C.fail(CLIENT, 'sol', 'unknown step ' + step);
        }
    }
    redir.Start(a.host, a.port, a.user, a.pass, a.tls ? 1 : 0);
}

// ------------------------------------------------------------------ IDE-R
function ider() {
    const image = fs.readFileSync(a.args[0]);
    const until = Number(process.env.AMT_IDER_UNTIL_BYTES || 2048);
    const ider = CreateAmtRemoteIder();
    ider.cdrom = image;          // .size and .slice() as a File has them
    ider.cdrom.size = image.length;
    // The module's READ CAPACITY checks the *floppy* before answering for
    // the CD (a copy-paste slip), so a CD alone reads as "no medium"; users
    // of the browser console mount a floppy too, and so does this driver.
    ider.floppy = Buffer.alloc(2880 * 512);
    ider.floppy.size = ider.floppy.length;
    ider.iderStart = 2;          // start now
    // The relay stack hands IDE-R traffic to ProcessBinaryData when a module
    // has one; this module parses binary strings, as its browser relay fed it.
    ider.ProcessBinaryData = (ab) => ider.ProcessData(Buffer.from(ab).toString('latin1'));
    let delivered = 0, finished = false;
    const send = ider.SendDataToHost;
    ider.SendDataToHost = function (dev, completed, data, dma) {
        delivered += data.length;
        stats.chunks = (stats.chunks || 0) + 1;
        send.apply(this, arguments);
        if (delivered >= until && completed && !finished) {
            finished = true;
            // Let the last chunk leave, then end as MeshCommander does: close.
            setTimeout(() => {
                stats.in_sequence = ider.inSequence;
                stats.iderinfo = ider.iderinfo;
                redir.Stop();
                C.succeed(CLIENT, 'ider', { delivered, stats });
            }, 300);
        }
    };
    const stateChange = ider.xxStateChange;
    ider.xxStateChange = function (state) {
        stats.states = (stats.states || []).concat(state);
        if (state === 0 && !finished) {
            finished = true;
            C.fail(CLIENT, 'ider', 'session closed before the host read the image', { delivered, in_sequence: ider.inSequence, stats });
        }
        return stateChange.apply(this, arguments);
    };
    const redir = CreateAmtRedirect(ider);
    redir.Start(a.host, a.port, a.user, a.pass, a.tls ? 1 : 0);
}

if (a.op === 'sol') sol();
else if (a.op === 'ider') ider();
else C.fail(CLIENT, a.op, 'unknown op ' + a.op + '; ' + USAGE);
