#!/usr/bin/env node
'use strict';
// Drives MeshCommander's KVM client as shipped in npm meshcentral
// (public/scripts/amt-redir-ws-0.1.0.js carrying amt-desktop-0.0.2.js, with
// zlib.js for its RLE tiles) from node. As in meshcommander-redir.js, a
// WebSocket stand-in opens the TCP (or TLS) connection to the redirection
// port itself; a canvas stand-in keeps the pixels the desktop module draws.
//
//   node meshcommander-kvm.js HOST PORT USER PASS kvm TEXT OUT.rgb [--tls] [--no-consent]
//       waits for the whole screen, types TEXT as key presses, waits until
//       the screen changed and settled, writes it to OUT.rgb (raw RGB,
//       width x height x 3) and ends the session. --no-consent first sets
//       IPS_OptInService.OptInRequired to 0 over WS-Man (16992, or 16993
//       with --tls) with MeshCentral's amt stack, as MeshCommander's
//       "User Consent: None" does.
// Prints one JSON object as the last stdout line; exit 0 only on success.

const fs = require('fs');
const net = require('net');
const tlsLib = require('tls');
const path = require('path');
const vm = require('vm');
const crypto = require('crypto');
const C = require('./common');

const CLIENT = 'meshcommander-kvm';
const USAGE = 'meshcommander-kvm.js HOST PORT USER PASS kvm TEXT OUT.rgb [--tls] [--no-consent]';

const a = C.parseArgs(CLIENT, USAGE);
if (a == null) return;
C.watchdog(CLIENT, a.op, 90);

const stats = { tiles: 0, pixels: 0, bytes: 0, frames: 0 };

// ------------------------------------------------------------ browser stand-ins
class RelaySocket {
    constructor(url) {
        const q = new URL(url).searchParams;
        this.readyState = 0;
        this.binaryType = 'arraybuffer';
        const host = q.get('host'), port = Number(q.get('port'));
        if (!C.isLoopback(host)) throw new Error('refusing non-loopback host ' + host);
        const onConnect = () => { this.readyState = 1; if (this.onopen) this.onopen(); };
        this.sock = (q.get('tls') === '1')
            // As MeshCentral's relay: static-RSA AES only, TLS 1.0 up.
            ? tlsLib.connect({
                host, port, rejectUnauthorized: false,
                ciphers: 'RSA+AES:!aNULL:!MD5:!DSS', minVersion: 'TLSv1',
            }, onConnect)
            : net.connect({ host, port }, onConnect);
        this.sock.setNoDelay(true);
        this.sock.on('data', (d) => {
            stats.bytes += d.length;
            if (process.env.AMT_KVM_DUMP) fs.appendFileSync(process.env.AMT_KVM_DUMP, d);
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

// The 2D context of the desktop's canvas: only what amt-desktop draws with.
let pixels = Buffer.alloc(0);
const canvas = { width: 0, height: 0 };
function ensure() {
    const need = canvas.width * canvas.height * 3;
    if (pixels.length !== need) pixels = Buffer.alloc(need);
}
function colour(style) {
    let m = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(style);
    if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
    m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(style);
    if (m) return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
    return [0, 0, 0];
}
const ctx = {
    canvas,
    fillStyle: '#000000',
    createImageData(w, h) { return { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }; },
    putImageData(img, x, y) {
        ensure();
        stats.tiles++;
        stats.pixels += img.width * img.height;
        for (let j = 0; j < img.height; j++) {
            for (let i = 0; i < img.width; i++) {
                const px = x + i, py = y + j;
                if (px >= canvas.width || py >= canvas.height) continue;
                const s = (j * img.width + i) * 4, d = (py * canvas.width + px) * 3;
                pixels[d] = img.data[s]; pixels[d + 1] = img.data[s + 1]; pixels[d + 2] = img.data[s + 2];
            }
        }
        changedAt = Date.now();
    },
    fillRect(x, y, w, h) {
        ensure();
        // Solid RLE tiles are drawn as rectangles.
        if (stats.tiles > 0 || w * h < canvas.width * canvas.height) { stats.fills = (stats.fills || 0) + 1; stats.pixels += w * h; }
        const c = colour(this.fillStyle);
        for (let py = y; py < Math.min(y + h, canvas.height); py++) {
            for (let px = x; px < Math.min(x + w, canvas.width); px++) {
                const d = (py * canvas.width + px) * 3;
                pixels[d] = c[0]; pixels[d + 1] = c[1]; pixels[d + 2] = c[2];
            }
        }
        changedAt = Date.now();
    },
    setTransform() {}, rotate() {}, drawImage() {},
};
const element = { getContext: () => ctx, style: {} };
let changedAt = 0;

globalThis.window = { location: { protocol: 'http:', host: 'relay', pathname: '/commander.htm' } };
globalThis.document = { getElementById: () => element, createElement: () => element };
globalThis.WebSocket = RelaySocket;
globalThis.urlvars = {};
globalThis.hex_md5 = (s) => crypto.createHash('md5').update(Buffer.from(s, 'latin1')).digest('hex');

const scripts = path.join(C.nodeModule('meshcentral'), 'public', 'scripts');
for (const f of ['common-0.0.1.js', 'zlib.js', 'zlib-inflate.js', 'zlib-adler32.js', 'zlib-crc32.js',
    'amt-redir-ws-0.1.0.js', 'amt-desktop-0.0.2.js']) {
    const file = path.join(scripts, f);
    if (!fs.existsSync(file)) { C.fail(CLIENT, a.op, 'meshcentral not installed: ' + file); return; }
    vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
}

// ------------------------------------------------------------------- KVM
function kvm() {
    const [text, out] = a.args;
    if (text == null || out == null) { C.fail(CLIENT, 'kvm', 'usage: ' + USAGE); return; }
    const desktop = CreateAmtRemoteDesktop('Desk');
    const redir = CreateAmtRedirect(desktop);
    let done = false;
    redir.onStateChanged = (r, state) => {
        stats.states = (stats.states || []).concat(state);
        if (state === 0 && !done) { done = true; C.fail(CLIENT, 'kvm', 'session closed', { stats }); }
    };
    const finish = (ok, why) => {
        if (done) return;
        done = true;
        stats.width = canvas.width; stats.height = canvas.height;
        // Before Stop: the desktop module paints the canvas black on close.
        if (ok) fs.writeFileSync(out, pixels);
        redir.Stop();
        if (ok) C.succeed(CLIENT, 'kvm', { stats });
        else C.fail(CLIENT, 'kvm', why, { stats });
    };
    // Settled: nothing drawn for this long.
    const settled = () => changedAt > 0 && Date.now() - changedAt > 700;
    const deadline = Date.now() + 60000;
    let before = null;
    const poll = () => {
        if (done) return;
        if (Date.now() > deadline) { finish(false, before ? 'the screen did not change after typing' : 'no whole screen'); return; }
        if (before == null) {
            if (canvas.width > 0 && stats.pixels >= canvas.width * canvas.height && settled()) {
                before = Buffer.from(pixels);
                stats.first_frame_tiles = stats.tiles;
                for (const ch of text) {
                    desktop.sendkey(ch.charCodeAt(0), 1);
                    desktop.sendkey(ch.charCodeAt(0), 0);
                }
            }
        } else if (settled() && !pixels.equals(before)) {
            finish(true);
            return;
        }
        setTimeout(poll, 50);
    };
    redir.Start(a.host, a.port, a.user, a.pass, a.tls ? 1 : 0);
    poll();
}

// MeshCentral's WS-Man stack (npm meshcentral amt/), for the consent policy.
function noConsent(then) {
    const amtDir = path.join(C.nodeModule('meshcentral'), 'amt');
    const CreateWsmanComm = require(path.join(amtDir, 'amt-wsman-comm.js'));
    const WsmanStackCreateService = require(path.join(amtDir, 'amt-wsman.js'));
    const AmtStackCreateService = require(path.join(amtDir, 'amt.js'));
    const comm = CreateWsmanComm(a.host, a.tls ? 16993 : 16992, a.user, a.pass, a.tls ? 1 : 0);
    comm.xtlsFingerprint = 0;
    const amtstack = AmtStackCreateService(WsmanStackCreateService(comm));
    amtstack.Get('IPS_OptInService', (stack, name, response, status) => {
        if (status !== 200) { C.fail(CLIENT, 'kvm', 'Get IPS_OptInService: ' + status); return; }
        const body = response.Body;
        body.OptInRequired = 0;
        amtstack.Put('IPS_OptInService', body, (stack2, name2, response2, status2) => {
            if (status2 !== 200) { C.fail(CLIENT, 'kvm', 'Put IPS_OptInService: ' + status2); return; }
            stats.consent_off = true;
            then();
        }, 0, 1);
    }, 0, 1);
}

if (a.op === 'kvm' && a.flags.has('--no-consent')) noConsent(kvm);
else if (a.op === 'kvm') kvm();
else C.fail(CLIENT, a.op, 'unknown op ' + a.op + '; ' + USAGE);
