#!/usr/bin/env node
'use strict';
// Builds WS-Man requests with the Device Management Toolkit message builder
// (npm @device-management-toolkit/wsman-messages) and sends them the way the DMT
// provisioning server (RPS) writes them on the wire; parses answers with xml2js
// the way RPS/MPS do.
//
//   node wsman-messages.js HOST PORT USER PASS OP [ARGS...] [--tls]
//
// OPs: info | version | settings | powerstate | power N | boot pxe|cd|hdd|bios [on|reset]
//      | setup | optin | redirection | bootcaps | get CLASS | enum CLASS
// Prints one JSON object as the last stdout line; exit 0 only on success.

const net = require('net');
const tls = require('tls');
const crypto = require('crypto');
const path = require('path');
const C = require('./common');
const fs = require('fs');
const os = require('os');
const { execFileSync } = require('child_process');

const CLIENT = 'wsman-messages';
const USAGE = 'wsman-messages.js HOST PORT USER PASS OP [ARGS...] [--tls]\n' +
    'OP: info | version | settings | powerstate | power N | boot pxe|cd|hdd|bios [on|reset] | setup | optin | redirection | bootcaps | tlsconfig CA_CERT_PEM CA_KEY_PEM | get CLASS | enum CLASS';

class StepError extends Error {
    constructor(msg, extra) { super(msg); this.extra = extra || {}; }
}

// ---------------------------------------------------------------- HTTP response parsing
// Strict chunked decoding: returns {body, rest} once the terminating chunk has
// arrived, null when more bytes are needed, throws on a malformed stream.
function dechunk(buf) {
    let pos = 0;
    const parts = [];
    for (;;) {
        const eol = buf.indexOf('\r\n', pos);
        if (eol < 0) {
            if (buf.length - pos > 1024) throw new Error('chunk size line longer than 1024 bytes');
            return null;
        }
        const line = buf.slice(pos, eol).toString('latin1');
        const sizeStr = line.split(';')[0].trim();
        if (!/^[0-9A-Fa-f]+$/.test(sizeStr)) throw new Error('bad chunk size line ' + JSON.stringify(line));
        const size = parseInt(sizeStr, 16);
        pos = eol + 2;
        if (size === 0) {
            // Trailers (none expected) end with an empty line.
            for (;;) {
                const e2 = buf.indexOf('\r\n', pos);
                if (e2 < 0) return null;
                const trailer = buf.slice(pos, e2);
                pos = e2 + 2;
                if (trailer.length === 0) return { body: Buffer.concat(parts), rest: buf.slice(pos) };
            }
        }
        if (buf.length < pos + size + 2) return null;
        parts.push(buf.slice(pos, pos + size));
        if (buf[pos + size] !== 13 || buf[pos + size + 1] !== 10) throw new Error('chunk of ' + size + ' bytes not followed by CRLF');
        pos += size + 2;
    }
}

// Returns a parsed response once complete, null if more data is needed.
function parseResponse(buf, closed) {
    const hend = buf.indexOf('\r\n\r\n');
    if (hend < 0) {
        if (closed) throw new Error('connection closed before the end of the response headers (' + buf.length + ' bytes)');
        return null;
    }
    const lines = buf.slice(0, hend).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) throw new Error('bad status line ' + JSON.stringify(lines[0]));
    const headers = {};
    for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i <= 0) throw new Error('bad header line ' + JSON.stringify(l));
        const k = l.slice(0, i).trim().toLowerCase();
        const v = l.slice(i + 1).trim();
        headers[k] = headers[k] != null ? headers[k] + ', ' + v : v;
    }
    const status = Number(m[1]);
    const raw = buf.slice(hend + 4);
    const te = (headers['transfer-encoding'] || '').toLowerCase();
    let body;
    let chunked = false;
    if (te) {
        if (te !== 'chunked') throw new Error('unsupported Transfer-Encoding ' + te);
        chunked = true;
        const d = dechunk(raw);
        if (d == null) {
            if (closed) throw new Error('connection closed inside the chunked body (' + raw.length + ' body bytes, not a complete chunk stream)');
            return null;
        }
        if (d.rest.length) throw new Error(d.rest.length + ' bytes after the last chunk');
        body = d.body;
    } else if (headers['content-length'] != null) {
        const n = Number(headers['content-length']);
        if (raw.length < n) {
            if (closed) throw new Error('connection closed after ' + raw.length + ' of ' + n + ' body bytes');
            return null;
        }
        body = raw.slice(0, n);
    } else {
        if (!closed) return null; // body delimited by the close
        body = raw;
    }
    return { status, headers, chunked, body: body.toString('utf8'), statusLine: lines[0] };
}

// ---------------------------------------------------------------- RPS-style transport
class RpsTransport {
    constructor(a) {
        this.a = a;
        this.nonceCounter = 1;
        this.challenge = null;
        this.connections = 0;
        this.requests = 0;
        this.reauths = [];
        this.timeoutMs = Number(process.env.AMT_DRIVER_IO_TIMEOUT || 20) * 1000;
        const xml2js = require(C.nodeModule('xml2js'));
        this.parser = new xml2js.Parser({
            ignoreAttrs: false,
            mergeAttrs: false,
            explicitArray: false,
            tagNameProcessors: [xml2js.processors.stripPrefix],
            valueProcessors: [xml2js.processors.parseNumbers, xml2js.processors.parseBooleans],
        });
    }

    // RPS parseAuthenticateResponseHeader
    parseChallenge(value) {
        const params = value.replace('Digest realm', 'realm').split(/([^=,]*)=("[^"]*"|[^,"]*)/);
        const obj = {};
        for (let i = 0; i < params.length; i += 3) {
            if (params[i + 1] != null) obj[params[i + 1].trim()] = params[i + 2].replace(/"/g, '');
        }
        if (obj.qop != null) obj.qop = 'auth';
        return obj;
    }

    md5(s) { return crypto.createHash('md5').update(s).digest('hex'); }

    // RPS HttpHandler.wrapIt
    wrap(xml) {
        const url = '/wsman';
        const action = 'POST';
        let msg = `${action} ${url} HTTP/1.1\r\n`;
        if (this.challenge != null) {
            const ch = this.challenge;
            const cnonce = crypto.randomBytes(6).toString('hex');
            const nc = ('00000000' + (this.nonceCounter++).toString(16)).slice(-8);
            const ha1 = this.md5(`${this.a.user}:${ch.realm}:${this.a.pass}`);
            const ha2 = this.md5(`${action}:${url}`);
            const response = this.md5(`${ha1}:${ch.nonce}:${nc}:${cnonce}:${ch.qop}:${ha2}`);
            const p = { username: this.a.user, realm: ch.realm, nonce: ch.nonce, uri: url, qop: ch.qop, response, nc, cnonce };
            msg += 'Authorization: Digest ' + Object.keys(p).map((k) => `${k}="${p[k]}"`).join(',') + '\r\n';
        }
        msg += [`Host: ${this.a.host}:${this.a.port}`, 'Transfer-Encoding: chunked', 'Connection: close', '',
            xml.length.toString(16).toUpperCase(), xml, 0, '\r\n'].join('\r\n');
        return Buffer.from(msg, 'utf8');
    }

    // One request on one fresh connection (the request says Connection: close).
    exchange(bytes) {
        return new Promise((resolve, reject) => {
            this.connections++;
            let buf = Buffer.alloc(0);
            let done = false;
            const opts = { host: this.a.host, port: this.a.port };
            const sock = this.a.tls
                ? tls.connect(Object.assign(opts, { rejectUnauthorized: false, minVersion: 'TLSv1.2' }))
                : net.connect(opts);
            const finish = (err, res) => {
                if (done) return;
                done = true;
                clearTimeout(timer);
                sock.destroy();
                if (err) reject(err); else resolve(res);
            };
            const timer = setTimeout(() => finish(new Error('no complete answer within ' + this.timeoutMs / 1000 + ' s (' + buf.length + ' bytes received)')), this.timeoutMs);
            const check = (closed) => {
                try {
                    const r = parseResponse(buf, closed);
                    if (r) finish(null, r);
                    else if (closed) finish(new Error('connection closed without a complete response'));
                } catch (e) { finish(e); }
            };
            sock.on(this.a.tls ? 'secureConnect' : 'connect', () => sock.write(bytes));
            sock.on('data', (d) => { buf = Buffer.concat([buf, d]); check(false); });
            sock.on('end', () => check(true));
            sock.on('close', () => check(true));
            sock.on('error', (e) => finish(new Error('socket error: ' + e.message)));
        });
    }

    async send(xml, what) {
        let res;
        for (let attempt = 0; attempt < 2; attempt++) {
            this.requests++;
            res = await this.exchange(this.wrap(xml));
            if (res.headers.server) this.server = res.headers.server;
            if (res.status !== 401) break;
            const wa = res.headers['www-authenticate'];
            if (!wa || !/^Digest /i.test(wa)) throw new StepError(what + ': 401 without a Digest challenge: ' + JSON.stringify(wa));
            // A 401 to an authenticated request means the nonce was retired (or the
            // credentials are wrong): take the new challenge and try once more.
            if (this.challenge != null) this.reauths.push({ what, stale: /stale="?true/i.test(wa) });
            this.challenge = this.parseChallenge(wa);
            if (!this.challenge.realm || !this.challenge.nonce) throw new StepError(what + ': cannot parse challenge ' + JSON.stringify(wa));
        }
        if (res.status === 401) throw new StepError(what + ': still 401 after answering the Digest challenge', { status: 401 });
        if (res.status === 200 && !res.chunked) {
            throw new StepError(what + ': HTTP 200 body is not chunked (RPS de-chunks every answer; got ' +
                (res.headers['content-length'] != null ? 'Content-Length ' + res.headers['content-length'] : 'no framing') + ')', { status: 200 });
        }
        let parsed = null;
        let parseError = null;
        this.parser.parseString(res.body, (err, result) => { if (err) parseError = err; else parsed = result; });
        if (res.status === 200 && (parseError || !parsed || !parsed.Envelope)) {
            throw new StepError(what + ': answer is not a SOAP envelope xml2js can parse: ' + (parseError ? parseError.message : 'no Envelope'), { status: 200 });
        }
        return { status: res.status, headers: res.headers, xml: res.body, env: parsed && parsed.Envelope };
    }
}

// ---------------------------------------------------------------- helpers
function faultText(env) {
    try {
        const f = env.Body.Fault;
        const sub = f.Code && f.Code.Subcode && f.Code.Subcode.Value;
        const reason = f.Reason && f.Reason.Text;
        const r = typeof reason === 'object' ? reason._ : reason;
        return [typeof sub === 'object' ? sub._ : sub, r].filter(Boolean).join(': ');
    } catch (e) { return undefined; }
}

function need200(what, res) {
    if (res.status !== 200) {
        const f = res.env ? faultText(res.env) : undefined;
        throw new StepError(what + ': HTTP ' + res.status + (f ? ' (' + f + ')' : ''), { failed_step: what, status: res.status });
    }
    return res;
}

function bodyOf(what, res, key) {
    need200(what, res);
    const b = res.env.Body && res.env.Body[key];
    if (b == null) throw new StepError(what + ': no ' + key + ' in the answer body (keys: ' + Object.keys(res.env.Body || {}).join(',') + ')');
    return b;
}

function scalar(v) {
    // xml2js gives {_: text, $: attrs} for elements with attributes.
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && '_' in v) return v._;
    return v;
}

function requireNumber(what, v) {
    if (typeof v !== 'number') throw new StepError(what + ' is not a number: ' + JSON.stringify(v));
    return v;
}

// ---------------------------------------------------------------- operations
async function run(a) {
    const dmt = require(C.nodeModule('@device-management-toolkit/wsman-messages'));
    const { AMT, CIM, IPS } = dmt;
    const amt = new AMT.Messages();
    const cim = new CIM.Messages();
    const ips = new IPS.Messages();
    const t = new RpsTransport(a);
    const stats = () => ({ requests: t.requests, connections: t.connections, reauth_401s: t.reauths, challenge_realm: t.challenge ? t.challenge.realm : null, tls: !!a.tls });

    const get = async (cls, msgs) => bodyOf('Get ' + cls, await t.send(msgs.Get(), 'Get ' + cls), cls);
    // DMT/MPS: one Enumerate and exactly one Pull.
    const enumPull = async (cls, msgs) => {
        const e = await t.send(msgs.Enumerate(), 'Enumerate ' + cls);
        const er = bodyOf('Enumerate ' + cls, e, 'EnumerateResponse');
        const ctx = scalar(er.EnumerationContext);
        if (ctx == null || ctx === '') throw new StepError('Enumerate ' + cls + ': no EnumerationContext');
        const p = await t.send(msgs.Pull(String(ctx)), 'Pull ' + cls);
        const pr = bodyOf('Pull ' + cls, p, 'PullResponse');
        return pr;
    };
    const invoke = async (what, xml, outName) => {
        const b = bodyOf(what, await t.send(xml, what), outName);
        const rv = scalar(b.ReturnValue);
        if (typeof rv !== 'number') throw new StepError(what + ': no numeric ReturnValue in ' + outName);
        return rv;
    };
    const softwareIdentity = async () => {
        const pr = await enumPull('CIM_SoftwareIdentity', cim.SoftwareIdentity);
        let items = pr.Items && pr.Items.CIM_SoftwareIdentity;
        if (items == null) throw new StepError('Pull CIM_SoftwareIdentity: no Items.CIM_SoftwareIdentity');
        if (!Array.isArray(items)) items = [items];
        const map = {};
        for (const it of items) map[String(scalar(it.InstanceID))] = scalar(it.VersionString);
        const v = map.AMT;
        if (typeof v !== 'string' || !/^\d+\.\d+/.test(v)) throw new StepError('CIM_SoftwareIdentity[AMT].VersionString missing or not a version: ' + JSON.stringify(v));
        return { version: v, fw_core_version: map['AMT FW Core Version'], software_identity: map };
    };
    const powerState = async () => {
        const pr = await enumPull('CIM_ServiceAvailableToElement', cim.ServiceAvailableToElement);
        const item = pr.Items && pr.Items.CIM_AssociatedPowerManagementService;
        if (item == null) throw new StepError('Pull CIM_ServiceAvailableToElement: no Items.CIM_AssociatedPowerManagementService (keys: ' + Object.keys(pr.Items || {}).join(',') + ')');
        if (Array.isArray(item)) throw new StepError('Pull CIM_ServiceAvailableToElement: ' + item.length + ' CIM_AssociatedPowerManagementService items; MPS expects exactly one');
        return requireNumber('CIM_AssociatedPowerManagementService.PowerState', scalar(item.PowerState));
    };
    // MPS setBootData (power action: plain flags; boot options: BIOSSetup / IDER per action).
    const setBootData = (r, action) => {
        Object.assign(r, {
            BIOSPause: false, BIOSSetup: action < 104 && action >= 100, BootMediaIndex: 0, ConfigurationDataReset: false,
            FirmwareVerbosity: 0, ForcedProgressEvents: false, IDERBootDevice: (action === 202 || action === 203) ? 1 : 0,
            LockKeyboard: false, LockPowerButton: false, LockResetButton: false, LockSleepButton: false,
            ReflashBIOS: false, UseIDER: action > 199 && action < 300, UseSOL: false, UseSafeMode: false,
            UserPasswordBypass: false, SecureErase: false,
        });
        return r;
    };

    switch (a.op) {
    case 'info': {
        const gs = await get('AMT_GeneralSettings', amt.GeneralSettings);
        const v = await softwareIdentity();
        const ps = await powerState();
        return Object.assign({ version: v.version, fw_core_version: v.fw_core_version, hostname: scalar(gs.HostName), digest_realm: scalar(gs.DigestRealm), powerstate: ps }, stats());
    }
    case 'version': {
        const v = await softwareIdentity();
        const sc = await get('AMT_SetupAndConfigurationService', amt.SetupAndConfigurationService);
        return Object.assign(v, {
            provisioning_state: scalar(sc.ProvisioningState), provisioning_mode: scalar(sc.ProvisioningMode),
        }, stats());
    }
    case 'settings': {
        const gs = await get('AMT_GeneralSettings', amt.GeneralSettings);
        const realm = scalar(gs.DigestRealm);
        if (typeof realm !== 'string' || !/^Digest:[0-9A-F]{32}$/.test(realm)) {
            throw new StepError('AMT_GeneralSettings.DigestRealm is not "Digest:"+32 hex (RPS validates this): ' + JSON.stringify(realm));
        }
        return Object.assign({ hostname: scalar(gs.HostName), domain: scalar(gs.DomainName), digest_realm: realm, realm_match: t.challenge && t.challenge.realm === realm, settings: gs }, stats());
    }
    case 'powerstate':
        return Object.assign({ powerstate: await powerState() }, stats());
    case 'power': {
        const n = C.powerNumber(a.args[0]);
        if (!Number.isInteger(n)) throw new StepError('power: need a power state number or on/off/reset/cycle');
        const out = { action: n, steps: [] };
        const bsd = await get('AMT_BootSettingData', amt.BootSettingData);
        out.steps.push({ step: 'Get AMT_BootSettingData', status: 200 });
        // Current MPS powerAction: every flag cleared, BIOSSetup false.
        const data = setBootData(Object.assign({}, bsd), 0);
        need200('Put AMT_BootSettingData', await t.send(amt.BootSettingData.Put(data), 'Put AMT_BootSettingData'));
        out.steps.push({ step: 'Put AMT_BootSettingData', status: 200 });
        const sv = /Active Management Technology (\d+)\./.exec(t.server || '');
        out.firmware_major = sv ? Number(sv[1]) : null;
        if (n === 2 && (out.firmware_major == null || out.firmware_major > 9)) {
            // MPS ensureFullPowerBeforeReset (firmware > 9): OS power saving state first.
            const r = await t.send(ips.PowerManagementService.Get(), 'Get IPS_PowerManagementService');
            out.steps.push({ step: 'Get IPS_PowerManagementService', status: r.status });
            if (r.status === 200) {
                const os = scalar((r.env.Body.IPS_PowerManagementService || {}).OSPowerSavingState);
                out.os_power_saving_state = os;
                if (os === 3) {
                    const rv = await invoke('RequestOSPowerSavingStateChange(2)', ips.PowerManagementService.RequestOSPowerSavingStateChange(2), 'RequestOSPowerSavingStateChange_OUTPUT');
                    out.steps.push({ step: 'RequestOSPowerSavingStateChange(2)', return_value: rv });
                }
            } else if (r.status !== 400) {
                throw new StepError('Get IPS_PowerManagementService: HTTP ' + r.status, out);
            }
        }
        const rv = await invoke('RequestPowerStateChange(' + n + ')', cim.PowerManagementService.RequestPowerStateChange(n), 'RequestPowerStateChange_OUTPUT');
        out.steps.push({ step: 'RequestPowerStateChange(' + n + ')', return_value: rv });
        out.return_value = rv;
        if (rv !== 0) throw new StepError('RequestPowerStateChange(' + n + ') returned ' + rv, out);
        return Object.assign(out, stats());
    }
    case 'boot': {
        const dev = String(a.args[0] || '').toLowerCase();
        const how = String(a.args[1] || 'reset').toLowerCase();
        const sources = { pxe: 'Intel(r) AMT: Force PXE Boot', cd: 'Intel(r) AMT: Force CD/DVD Boot', hdd: 'Intel(r) AMT: Force Hard-drive Boot', bios: null };
        if (!(dev in sources)) throw new StepError('boot: device must be pxe|cd|hdd|bios');
        if (how !== 'reset' && how !== 'on') throw new StepError('boot: second argument must be on|reset');
        const power = how === 'reset' ? 10 : 2;
        // MPS action numbers: 100/101 BIOS (on/reset), 400/401 PXE (reset/on).
        const action = dev === 'bios' ? (power === 10 ? 101 : 100) : dev === 'pxe' ? (power === 10 ? 400 : 401) : (power === 10 ? 110 : 111);
        const out = { device: dev, action, power_state_requested: power, boot_source: sources[dev], steps: [] };
        const bsd = await get('AMT_BootSettingData', amt.BootSettingData);
        out.steps.push({ step: 'Get AMT_BootSettingData', status: 200 });
        let rv = await invoke('ChangeBootOrder()', cim.BootConfigSetting.ChangeBootOrder(), 'ChangeBootOrder_OUTPUT');
        out.steps.push({ step: 'ChangeBootOrder()', return_value: rv });
        if (rv !== 0) throw new StepError('ChangeBootOrder() returned ' + rv, out);
        need200('Put AMT_BootSettingData', await t.send(amt.BootSettingData.Put(setBootData(Object.assign({}, bsd), action)), 'Put AMT_BootSettingData'));
        out.steps.push({ step: 'Put AMT_BootSettingData', status: 200 });
        rv = await invoke('SetBootConfigRole(1)', cim.BootService.SetBootConfigRole('Intel(r) AMT: Boot Configuration 0', 1), 'SetBootConfigRole_OUTPUT');
        out.steps.push({ step: 'SetBootConfigRole(1)', return_value: rv });
        if (rv !== 0) throw new StepError('SetBootConfigRole returned ' + rv, out);
        const src = sources[dev];
        rv = await invoke('ChangeBootOrder(source)', src ? cim.BootConfigSetting.ChangeBootOrder(src) : cim.BootConfigSetting.ChangeBootOrder(), 'ChangeBootOrder_OUTPUT');
        out.steps.push({ step: src ? 'ChangeBootOrder(' + src + ')' : 'ChangeBootOrder()', return_value: rv });
        if (rv !== 0) throw new StepError('ChangeBootOrder(source) returned ' + rv, out);
        rv = await invoke('RequestPowerStateChange(' + power + ')', cim.PowerManagementService.RequestPowerStateChange(power), 'RequestPowerStateChange_OUTPUT');
        out.steps.push({ step: 'RequestPowerStateChange(' + power + ')', return_value: rv });
        out.return_value = rv;
        if (rv !== 0) throw new StepError('RequestPowerStateChange(' + power + ') returned ' + rv, out);
        return Object.assign(out, stats());
    }
    case 'setup': {
        const hb = await get('IPS_HostBasedSetupService', ips.HostBasedSetupService);
        let allowed = hb.AllowedControlModes;
        if (allowed != null && !Array.isArray(allowed)) allowed = [allowed];
        return Object.assign({
            current_control_mode: requireNumber('CurrentControlMode', scalar(hb.CurrentControlMode)),
            allowed_control_modes: (allowed || []).map(scalar),
            service: hb,
        }, stats());
    }
    case 'optin': {
        const o = await get('IPS_OptInService', ips.OptInService);
        return Object.assign({
            opt_in_required: requireNumber('OptInRequired', scalar(o.OptInRequired)),
            opt_in_state: requireNumber('OptInState', scalar(o.OptInState)),
            can_modify_opt_in_policy: scalar(o.CanModifyOptInPolicy),
            service: o,
        }, stats());
    }
    case 'redirection': {
        const r = await get('AMT_RedirectionService', amt.RedirectionService);
        const es = requireNumber('EnabledState', scalar(r.EnabledState));
        return Object.assign({
            enabled_state: es, sol: (es & 2) !== 0, ider: (es & 1) !== 0, listener_enabled: scalar(r.ListenerEnabled), service: r,
        }, stats());
    }
    case 'bootcaps': {
        const c = await get('AMT_BootCapabilities', amt.BootCapabilities);
        return Object.assign({ capabilities: c, force_pxe_boot: scalar(c.ForcePXEBoot), ider: scalar(c.IDER), sol: scalar(c.SOL) }, stats());
    }
    case 'tlsconfig': {
        // RPS's TLS configuration: a key pair made on the device, a CSR it
        // signs, a certificate from the test's CA, the CA as trusted root, the
        // certificate as the TLS credential, TLS settings, CommitChanges; then
        // a fresh TLS connection must present exactly that certificate.
        const [caCertPem, caKeyPem] = a.args;
        if (!caCertPem || !caKeyPem) throw new StepError('tlsconfig: need CA_CERT_PEM CA_KEY_PEM files');
        const steps = [];
        const work = fs.mkdtempSync(path.join(os.tmpdir(), 'amtemu-tls-'));
        const openssl = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        const selectorOf = (epr) => {
            const sel = epr && epr.ReferenceParameters && epr.ReferenceParameters.SelectorSet && epr.ReferenceParameters.SelectorSet.Selector;
            const one = Array.isArray(sel) ? sel[0] : sel;
            return one && (typeof one === 'object' ? one._ : one);
        };
        const pkms = amt.PublicKeyManagementService;
        const gen = bodyOf('GenerateKeyPair', await t.send(pkms.GenerateKeyPair({ KeyAlgorithm: 0, KeyLength: 2048 }), 'GenerateKeyPair'), 'GenerateKeyPair_OUTPUT');
        steps.push({ step: 'GenerateKeyPair', return_value: scalar(gen.ReturnValue) });
        if (scalar(gen.ReturnValue) !== 0) throw new StepError('GenerateKeyPair returned ' + scalar(gen.ReturnValue), { steps });
        const keyId = selectorOf(gen.KeyPair);
        if (!keyId) throw new StepError('GenerateKeyPair: no KeyPair reference', { steps });
        // The console's own request, to be re-signed by the device key.
        openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(work, 'k.pem'), '-subj', '/CN=' + a.host, '-outform', 'DER', '-out', path.join(work, 'null.csr')]);
        const keyPair = `<a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicPrivateKeyPair</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">${keyId}</w:Selector></w:SelectorSet></a:ReferenceParameters>`;
        const req = bodyOf('GeneratePKCS10RequestEx', await t.send(pkms.GeneratePKCS10RequestEx({
            KeyPair: keyPair, NullSignedCertificateRequest: fs.readFileSync(path.join(work, 'null.csr')).toString('base64'), SigningAlgorithm: 1,
        }), 'GeneratePKCS10RequestEx'), 'GeneratePKCS10RequestEx_OUTPUT');
        steps.push({ step: 'GeneratePKCS10RequestEx', return_value: scalar(req.ReturnValue) });
        if (scalar(req.ReturnValue) !== 0 || !req.SignedCertificateRequest) throw new StepError('GeneratePKCS10RequestEx failed', { steps });
        fs.writeFileSync(path.join(work, 'device.csr'), Buffer.from(String(req.SignedCertificateRequest), 'base64'));
        // The CSR must verify with the device's key (openssl checks the signature).
        openssl(['req', '-inform', 'DER', '-in', path.join(work, 'device.csr'), '-verify', '-noout']);
        // A v3 server certificate, as an enterprise CA (or RPS) issues one.
        fs.writeFileSync(path.join(work, 'ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:' + a.host + ',IP:' + a.host + '\n');
        openssl(['x509', '-req', '-inform', 'DER', '-in', path.join(work, 'device.csr'), '-CA', caCertPem, '-CAkey', caKeyPem,
            '-CAcreateserial', '-days', '365', '-extfile', path.join(work, 'ext.cnf'), '-outform', 'DER', '-out', path.join(work, 'device.der')]);
        const certDer = fs.readFileSync(path.join(work, 'device.der'));
        const caDer = openssl(['x509', '-in', caCertPem, '-outform', 'DER']);
        const root = bodyOf('AddTrustedRootCertificate', await t.send(pkms.AddTrustedRootCertificate({ CertificateBlob: caDer.toString('base64') }), 'AddTrustedRootCertificate'), 'AddTrustedRootCertificate_OUTPUT');
        steps.push({ step: 'AddTrustedRootCertificate', return_value: scalar(root.ReturnValue) });
        const added = bodyOf('AddCertificate', await t.send(pkms.AddCertificate({ CertificateBlob: certDer.toString('base64') }), 'AddCertificate'), 'AddCertificate_OUTPUT');
        steps.push({ step: 'AddCertificate', return_value: scalar(added.ReturnValue) });
        if (scalar(added.ReturnValue) !== 0) throw new StepError('AddCertificate returned ' + scalar(added.ReturnValue), { steps });
        const certId = selectorOf(added.CreatedCertificate);
        const created = await t.send(amt.TLSCredentialContext.Create(certId), 'Create AMT_TLSCredentialContext');
        steps.push({ step: 'Create AMT_TLSCredentialContext', status: created.status });
        need200('Create AMT_TLSCredentialContext', created);
        const settings = await enumPull('AMT_TLSSettingData', amt.TLSSettingData);
        let items = settings.Items && settings.Items.AMT_TLSSettingData;
        items = Array.isArray(items) ? items : [items];
        const remote = items.find((i) => String(i.InstanceID) === 'Intel(r) AMT 802.3 TLS Settings');
        if (!remote) throw new StepError('no 802.3 TLS settings instance', { steps });
        const put = await t.send(amt.TLSSettingData.Put(Object.assign({}, remote, { Enabled: true, AcceptNonSecureConnections: false, MutualAuthentication: false })), 'Put AMT_TLSSettingData');
        steps.push({ step: 'Put AMT_TLSSettingData', status: put.status });
        need200('Put AMT_TLSSettingData', put);
        const commit = bodyOf('CommitChanges', await t.send(amt.SetupAndConfigurationService.CommitChanges(), 'CommitChanges'), 'CommitChanges_OUTPUT');
        steps.push({ step: 'CommitChanges', return_value: scalar(commit.ReturnValue) });
        // Reconnect on 16993 and look at what the device presents now.
        const served = await new Promise((resolve, reject) => {
            const sock = tls.connect({ host: a.host, port: Number(process.env.AMT_TLS_PORT || 16993), rejectUnauthorized: false }, () => {
                const cert = sock.getPeerCertificate(true);
                sock.destroy();
                resolve(cert && cert.raw);
            });
            sock.on('error', reject);
        });
        const matches = Buffer.isBuffer(served) && served.equals(certDer);
        if (!matches) throw new StepError('after CommitChanges the device does not present the configured certificate', { steps });
        return Object.assign({ steps, key_pair: keyId, certificate: certId, certificate_served: matches }, stats());
    }
    case 'get':
    case 'enum': {
        const cls = a.args[0];
        if (!cls || !/^(AMT|CIM|IPS)_\w+$/.test(cls)) throw new StepError(a.op + ': need a CLASS named AMT_*, CIM_* or IPS_*');
        const base = { AMT: 'http://intel.com/wbem/wscim/1/amt-schema/1/', CIM: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/', IPS: 'http://intel.com/wbem/wscim/1/ips-schema/1/' }[cls.slice(0, 3)];
        const { WSManMessageCreator, Base } = require(path.join(C.nodeModule('@device-management-toolkit/wsman-messages'), 'WSMan.js'));
        const msgs = new Base(new WSManMessageCreator(base));
        msgs.className = cls;
        if (a.op === 'get') return Object.assign({ class: cls, body: await get(cls, msgs) }, stats());
        const pr = await enumPull(cls, msgs);
        const items = pr.Items == null ? [] : Object.entries(pr.Items).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => ({ element: k, value: x })));
        return Object.assign({ class: cls, count: items.length, end_of_sequence: pr.EndOfSequence !== undefined, items }, stats());
    }
    default:
        throw new StepError('unknown op ' + a.op + '; ' + USAGE.split('\n')[1]);
    }
}

function main(a) {
    C.watchdog(CLIENT, a.op, 90);
    run(a).then(
        (fields) => C.succeed(CLIENT, a.op, fields),
        (err) => C.fail(CLIENT, a.op, err && err.message ? err.message : err, err && err.extra),
    );
}

// Other drivers (dmt-activate.js) reuse the RPS-style transport.
if (require.main === module) {
    const args = C.parseArgs(CLIENT, USAGE);
    if (args) main(args);
} else {
    module.exports = { RpsTransport, StepError, bodyOf, scalar };
}
