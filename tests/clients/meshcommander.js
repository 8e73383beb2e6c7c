#!/usr/bin/env node
'use strict';
// Drives the MeshCommander / MeshCentral WS-Man stack (npm meshcentral:
// amt/amt-wsman-comm.js + amt-wsman.js + amt-xml.js + amt.js) against an AMT device.
//
//   node meshcommander.js HOST PORT USER PASS OP [ARGS...] [--tls]
//
// OPs: info | version | settings | powerstate | power N [pxe|cd|hdd|diag|https]
//      | connect | fullstate | enum CLASS | get CLASS
//      | subscribe URL [Push|PushWithAck] [USER PASS] | unsubscribe URL
// Prints one JSON object as the last stdout line; exit 0 only on success.

const fs = require('fs');
const path = require('path');
const C = require('./common');

const CLIENT = 'meshcommander';
const USAGE = 'meshcommander.js HOST PORT USER PASS OP [ARGS...] [--tls]\n' +
    'OP: info | version | settings | powerstate | power N [pxe|cd|hdd|diag|https] | connect | fullstate | enum CLASS | get CLASS\n' +
    '    | subscribe URL [Push|PushWithAck] [USER PASS] | unsubscribe URL';


function loadStack(a) {
    const mc = C.nodeModule('meshcentral');
    const amtDir = path.join(mc, 'amt');
    if (!fs.existsSync(path.join(amtDir, 'amt.js'))) {
        throw new Error('meshcentral not installed under ' + mc + ' (run tests/clients/install.sh)');
    }
    const CreateWsmanComm = require(path.join(amtDir, 'amt-wsman-comm.js'));
    const WsmanStackCreateService = require(path.join(amtDir, 'amt-wsman.js'));
    const AmtStackCreateService = require(path.join(amtDir, 'amt.js'));
    const comm = CreateWsmanComm(a.host, a.port, a.user, a.pass, a.tls ? 1 : 0);
    comm.xtlsFingerprint = 0; // as MeshCentral's amtmanager.js: no certificate pinning
    const wsstack = WsmanStackCreateService(comm);
    const amtstack = AmtStackCreateService(wsstack);
    return { comm, wsstack, amtstack, mc };
}

// ---------------------------------------------------------------- promise wrappers
// The stack's callbacks are (stack, name, response, status, tag).
function mkApi(amtstack) {
    const cb = (resolve) => (stack, name, response, status) => resolve({ status, response });
    return {
        get: (cls) => new Promise((r) => amtstack.Get(cls, cb(r), 0, 1)),
        enum: (cls) => new Promise((r) => amtstack.Enum(cls, (s, n, items, status) => r({ status, items }), 0, 1)),
        put: (cls, obj) => new Promise((r) => amtstack.Put(cls, obj, cb(r), 0, 1)),
        exec: (cls, method, a) => new Promise((r) => amtstack.Exec(cls, method, a, cb(r), 0, 1)),
        batch: (names, continueOnError) => new Promise((r) => amtstack.BatchEnum('', names, (s, n, responses, status) => r({ status, responses }), 0, continueOnError)),
        changeBootOrder: (src) => new Promise((r) => amtstack.CIM_BootConfigSetting_ChangeBootOrder(src, cb(r))),
        setBootConfigRole: (role) => new Promise((r) => amtstack.SetBootConfigRole(role, cb(r))),
        requestPowerStateChange: (n) => new Promise((r) => amtstack.RequestPowerStateChange(n, cb(r))),
        getLowAccuracyTimeSynch: () => new Promise((r) => amtstack.AMT_TimeSynchronizationService_GetLowAccuracyTimeSynch(cb(r))),
        setHighAccuracyTimeSynch: (ta0, tm1, tm2) => new Promise((r) => amtstack.AMT_TimeSynchronizationService_SetHighAccuracyTimeSynch(ta0, tm1, tm2, cb(r))),
        auditLog: () => new Promise((r) => amtstack.GetAuditLog((s, records, status) => r({ status, records }))),
        messageLog: () => new Promise((r) => amtstack.GetMessageLog((s, records, tag, status) => r({ status, records }))),
        subscribe: (mode, url, selectors, user, pass) => new Promise((r) => amtstack.Subscribe('CIM_FilterCollection', mode, url, cb(r), 0, 1, selectors, null, user, pass)),
        unsubscribe: (selectors) => new Promise((r) => amtstack.UnSubscribe('CIM_FilterCollectionSubscription', cb(r), 0, 1, selectors)),
    };
}

class StepError extends Error {
    constructor(msg, extra) { super(msg); this.extra = extra || {}; }
}

function wsmanError(res) {
    try { return res.response.Header.WsmanError; } catch (e) { return undefined; }
}

function need200(what, res) {
    if (res.status !== 200) {
        const w = wsmanError(res);
        throw new StepError(what + ': HTTP/stack status ' + res.status + (w ? ' (' + w + ')' : ''), { failed_step: what, status: res.status });
    }
    return res;
}

// A property value must be a plain value: amt-xml.js turns any element that
// carries attributes into {Value, @attr}, which MeshCommander then mis-handles.
function prim(obj, key, what) {
    if (obj == null || !(key in obj)) throw new StepError(what + ': property ' + key + ' missing');
    const v = obj[key];
    if (v !== null && typeof v === 'object') throw new StepError(what + ': property ' + key + ' is not a plain value: ' + JSON.stringify(v));
    return v;
}

function returnValue(what, res) {
    need200(what, res);
    const body = res.response && res.response.Body;
    if (!body || body.ReturnValue === undefined) throw new StepError(what + ': no ReturnValue in the answer', { failed_step: what });
    return { rv: body.ReturnValue, str: body.ReturnValueStr };
}

function softwareIdentity(items) {
    const map = {};
    for (const it of items || []) {
        if (it && it.InstanceID != null) map[String(it.InstanceID)] = it.VersionString;
    }
    return map;
}

function versionFromItems(items, what) {
    const map = softwareIdentity(items);
    const v = map.AMT;
    if (v == null) throw new StepError(what + ': no CIM_SoftwareIdentity instance with InstanceID=AMT');
    if (typeof v !== 'string' || !/^\d+\.\d+/.test(v)) throw new StepError(what + ': AMT VersionString is not a version: ' + JSON.stringify(v));
    return { version: v, fw_core_version: map['AMT FW Core Version'], software_identity: map };
}

// ---------------------------------------------------------------- MeshCommander power dialog
const BOOT_SOURCES = {
    pxe: 'Force PXE Boot', cd: 'Force CD/DVD Boot', dvd: 'Force CD/DVD Boot', hdd: 'Force Hard-drive Boot',
    diag: 'Force Diagnostic Boot', https: 'Force OCR UEFI HTTPS Boot',
};

function bootSourceEpr(name) {
    return '<Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address>' +
        '<ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">' +
        '<ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_BootSourceSetting</ResourceURI>' +
        '<SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="InstanceID">Intel(r) AMT: ' + name + '</Selector></SelectorSet>' +
        '</ReferenceParameters>';
}

// The dialog's action number → (boot source, DMTF power state), as commander.htm maps it.
function mapAction(b, device) {
    let source = null;
    if (b === 300 || b === 301) source = BOOT_SOURCES.diag;
    if (b === 400 || b === 401) source = BOOT_SOURCES.pxe;
    if (b === 600 || b === 601) source = BOOT_SOURCES.https;
    if (device) source = BOOT_SOURCES[device];
    let n = b;
    if ([100, 201, 203, 300, 401, 601, 104, 106].includes(b)) n = 2;
    if ([101, 200, 202, 301, 400, 600, 105, 107].includes(b)) n = 10;
    if (n === 11) n = 10; // NMI is sent as a reset
    return { source, power: n };
}

// The dialog's edit of AMT_BootSettingData before the Put (non-advanced path).
function editBootSettings(e, b) {
    e.ConfigurationDataReset = false;
    for (const k of ['WinREBootEnabled', 'UEFILocalPBABootEnabled', 'UEFIHTTPSBootEnabled', 'SecureBootControlEnabled',
        'BootguardStatus', 'OptionsCleared', 'BIOSLastStatus', 'UefiBootParametersArray', 'RPEEnabled']) delete e[k];
    e.BIOSPause = false;
    e.EnforceSecureBoot = false;
    e.BIOSSetup = b > 99 && b < 104;
    e.BootMediaIndex = 0;
    e.FirmwareVerbosity = 0;
    e.ForcedProgressEvents = false;
    e.IDERBootDevice = (b === 202 || b === 203) ? 1 : 0;
    e.LockKeyboard = false;
    e.LockPowerButton = false;
    e.LockResetButton = false;
    e.LockSleepButton = false;
    e.ReflashBIOS = false;
    e.UseIDER = b > 199 && b < 300;
    e.UseSOL = false;
    e.UseSafeMode = false;
    e.UserPasswordBypass = false;
    if (e.SecureErase != null) e.SecureErase = false;
    if (e.PlatformErase != null) e.PlatformErase = false;
    return e;
}

// ---------------------------------------------------------------- AllWsman
function allWsmanClasses(mc) {
    const htm = path.join(mc, 'public', 'commander.htm');
    if (fs.existsSync(htm)) {
        const m = /AllWsman="([^"]+)"\.split\(" "\)/.exec(fs.readFileSync(htm, 'utf8'));
        if (m) return { source: 'public/commander.htm', classes: m[1].split(' ') };
    }
    const js = path.join(mc, 'agents', 'meshcmd.js');
    if (fs.existsSync(js)) {
        const m = /var AllWsman = "([^"]+)"\.split\(','\)/.exec(fs.readFileSync(js, 'utf8'));
        if (m) return { source: 'agents/meshcmd.js', classes: m[1].split(',') };
    }
    throw new StepError('AllWsman class list not found in the installed meshcentral package');
}

// ---------------------------------------------------------------- operations
async function run(a) {
    const { comm, amtstack, mc } = loadStack(a);
    const api = mkApi(amtstack);
    const common = () => ({ challenge_realm: comm.digestRealm, server_version: comm.amtVersion, tls: !!a.tls });

    switch (a.op) {
    case 'info': {
        const gs = need200('Get AMT_GeneralSettings', await api.get('AMT_GeneralSettings'));
        const si = await api.enum('CIM_SoftwareIdentity');
        need200('Enumerate CIM_SoftwareIdentity', si);
        const ps = need200('Get CIM_AssociatedPowerManagementService', await api.get('CIM_AssociatedPowerManagementService'));
        const body = gs.response.Body;
        const v = versionFromItems(si.items, 'CIM_SoftwareIdentity');
        const powerstate = prim(ps.response.Body, 'PowerState', 'CIM_AssociatedPowerManagementService');
        if (typeof powerstate !== 'number') throw new StepError('PowerState is not a number: ' + JSON.stringify(powerstate));
        const realm = prim(body, 'DigestRealm', 'AMT_GeneralSettings');
        return Object.assign({
            version: v.version, fw_core_version: v.fw_core_version,
            hostname: prim(body, 'HostName', 'AMT_GeneralSettings'),
            digest_realm: realm, realm_match: realm === comm.digestRealm, powerstate,
        }, common());
    }
    case 'version': {
        // MeshCommander's connect batch: CIM_SoftwareIdentity + *AMT_SetupAndConfigurationService.
        const r = await api.batch(['CIM_SoftwareIdentity', '*AMT_SetupAndConfigurationService'], false);
        const si = r.responses.CIM_SoftwareIdentity;
        const sc = r.responses.AMT_SetupAndConfigurationService;
        if (!si || si.status !== 200) throw new StepError('Enumerate CIM_SoftwareIdentity: status ' + (si && si.status));
        if (!sc || sc.status !== 200) throw new StepError('Get AMT_SetupAndConfigurationService: status ' + (sc && sc.status));
        const v = versionFromItems(si.responses, 'CIM_SoftwareIdentity'); // Enum entries keep the items in .responses
        const mode = prim(sc.response, 'ProvisioningMode', 'AMT_SetupAndConfigurationService');
        return Object.assign(v, {
            provisioning_state: prim(sc.response, 'ProvisioningState', 'AMT_SetupAndConfigurationService'),
            provisioning_mode: mode,
            control_mode: mode === 1 ? 'ACM' : (mode === 4 ? 'CCM' : 'unknown'),
        }, common());
    }
    case 'settings': {
        const gs = need200('Get AMT_GeneralSettings', await api.get('AMT_GeneralSettings'));
        const body = gs.response.Body;
        return Object.assign({
            hostname: prim(body, 'HostName', 'AMT_GeneralSettings'),
            domain: body.DomainName,
            digest_realm: prim(body, 'DigestRealm', 'AMT_GeneralSettings'),
            method: gs.response.Header.Method,
            settings: body,
        }, common());
    }
    case 'powerstate': {
        const ps = need200('Get CIM_AssociatedPowerManagementService', await api.get('CIM_AssociatedPowerManagementService'));
        const powerstate = prim(ps.response.Body, 'PowerState', 'CIM_AssociatedPowerManagementService');
        if (typeof powerstate !== 'number') throw new StepError('PowerState is not a number: ' + JSON.stringify(powerstate));
        return Object.assign({ powerstate, available: ps.response.Body.AvailableRequestedPowerStates }, common());
    }
    case 'power': {
        const b = C.powerNumber(a.args[0]);
        const device = a.args[1] ? String(a.args[1]).toLowerCase() : null;
        if (!Number.isInteger(b)) throw new StepError('power: need a power state number or on/off/reset/cycle');
        if (device && !BOOT_SOURCES[device]) throw new StepError('power: unknown boot device ' + device + ' (pxe|cd|hdd|diag|https)');
        const { source, power } = mapAction(b, device);
        const out = { action: b, power_state_requested: power, boot_source: source ? 'Intel(r) AMT: ' + source : null, steps: [] };
        const step = (name, extra) => out.steps.push(Object.assign({ step: name }, extra));

        const bsd = need200('Get AMT_BootSettingData', await api.get('AMT_BootSettingData'));
        step('Get AMT_BootSettingData', { status: bsd.status });
        const edited = editBootSettings(Object.assign({}, bsd.response.Body), b);
        for (const [k, v] of Object.entries(edited)) {
            if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
                throw new StepError('AMT_BootSettingData.' + k + ' came back with attributes (' + JSON.stringify(v) + '); MeshCommander would Put "[object Object]"');
            }
        }
        let r = returnValue('ChangeBootOrder()', await api.changeBootOrder(null));
        step('ChangeBootOrder()', { return_value: r.rv, return_value_str: r.str });
        if (r.rv !== 0) throw new StepError('ChangeBootOrder() returned ' + r.rv + ' ' + r.str, out);
        const put = need200('Put AMT_BootSettingData', await api.put('AMT_BootSettingData', edited));
        step('Put AMT_BootSettingData', { status: put.status });
        r = returnValue('SetBootConfigRole(1)', await api.setBootConfigRole(1));
        step('SetBootConfigRole(1)', { return_value: r.rv, return_value_str: r.str });
        if (r.rv !== 0) throw new StepError('SetBootConfigRole(1) returned ' + r.rv + ' ' + r.str, out);
        r = returnValue('ChangeBootOrder(source)', await api.changeBootOrder(source == null ? null : bootSourceEpr(source)));
        step(source ? 'ChangeBootOrder(' + source + ')' : 'ChangeBootOrder()', { return_value: r.rv, return_value_str: r.str });
        if (r.rv !== 0) throw new StepError('ChangeBootOrder(source) returned ' + r.rv + ' ' + r.str, out);
        if (power < 999) {
            r = returnValue('RequestPowerStateChange(' + power + ')', await api.requestPowerStateChange(power));
            step('RequestPowerStateChange(' + power + ')', { return_value: r.rv, return_value_str: r.str });
            out.return_value = r.rv;
            out.return_value_str = r.str;
            if (r.rv !== 0) throw new StepError('RequestPowerStateChange(' + power + ') returned ' + r.rv + ' ' + r.str, out);
        }
        // The dialog re-reads the power state afterwards.
        const after = await api.get('CIM_AssociatedPowerManagementService');
        out.powerstate_after = after.status === 200 ? after.response.Body.PowerState : null;
        return Object.assign(out, common());
    }
    case 'connect': {
        // MeshCentral amtmanager.js: initial contact, then clock sync.
        const r = await api.batch(['*AMT_GeneralSettings', '*IPS_HostBasedSetupService'], false);
        const gs = r.responses.AMT_GeneralSettings;
        const hb = r.responses.IPS_HostBasedSetupService;
        const statuses = { AMT_GeneralSettings: gs && gs.status, IPS_HostBasedSetupService: hb && hb.status };
        if (r.status !== 200 || !gs || !hb || hb.response == null || gs.response == null) {
            throw new StepError('initial contact batch failed: ' + JSON.stringify(statuses), { statuses });
        }
        const realm = gs.response.DigestRealm;
        if (comm.digestRealm !== realm) {
            throw new StepError('digest realm of the 401 challenge (' + comm.digestRealm + ') != AMT_GeneralSettings.DigestRealm (' + JSON.stringify(realm) + ')');
        }
        const sv = typeof comm.amtVersion === 'string' ? comm.amtVersion.split('.') : [];
        if (sv.length < 3 || sv.slice(0, 3).some((x) => !/^\d+$/.test(x))) {
            throw new StepError('Server header version is not a.b.c: ' + JSON.stringify(comm.amtVersion));
        }
        const out = {
            control_mode: hb.response.CurrentControlMode,
            allowed_control_modes: hb.response.AllowedControlModes,
            digest_realm: realm,
            version: sv.slice(0, 3).join('.'),
        };
        return await finishClock(api, out, common);
    }
    case 'fullstate': {
        const list = allWsmanClasses(mc);
        const [batch, audit, events] = await Promise.all([api.batch(list.classes, true), api.auditLog(), api.messageLog()]);
        const statuses = {};
        const byStatus = {};
        // Classes answered with at least one instance ("with data").
        let withItems = 0;
        for (const name of list.classes) {
            const key = name.replace(/^\*/, '');
            const e = batch.responses[key];
            const s = e ? e.status : 'missing';
            statuses[key] = s;
            byStatus[s] = (byStatus[s] || 0) + 1;
            if (s === 200 && e.responses && (!Array.isArray(e.responses) || e.responses.length > 0)) withItems++;
        }
        const bad = Object.entries(statuses).filter(([, s]) => s !== 200 && s !== 400).map(([k, s]) => k + '=' + s);
        const out = Object.assign({
            class_list: list.source, classes: list.classes.length, by_status: byStatus, with_items: withItems, statuses,
            auditlog_status: audit.status, auditlog_records: Array.isArray(audit.records) ? audit.records.length : null,
            eventlog_status: events.status, eventlog_records: Array.isArray(events.records) ? events.records.length : null,
        }, common());
        if (bad.length) throw new StepError(bad.length + ' classes answered neither 200 nor 400: ' + bad.slice(0, 20).join(', '), out);
        return out;
    }
    case 'enum': {
        const cls = a.args[0];
        if (!cls) throw new StepError('enum: need a CLASS');
        const r = await api.enum(cls);
        if (r.status !== 200) throw new StepError('Enumerate ' + cls + ': status ' + r.status, { status: r.status });
        return Object.assign({ class: cls, status: r.status, count: r.items.length, items: r.items }, common());
    }
    case 'get': {
        const cls = a.args[0];
        if (!cls) throw new StepError('get: need a CLASS');
        const r = await api.get(cls);
        if (r.status !== 200) throw new StepError('Get ' + cls + ': status ' + r.status + (wsmanError(r) ? ' (' + wsmanError(r) + ')' : ''), { status: r.status });
        return Object.assign({ class: cls, status: r.status, method: r.response.Header.Method, body: r.response.Body }, common());
    }
    // The event subscription dialog (commander.htm: PullEventSubscriptions,
    // newSubscriptionButtonOk, deleteSubscriptionButton): filters first,
    // then Subscribe on the "All" filter, then the listing.
    case 'subscribe': {
        const [url, mode, user, pass] = a.args;
        if (!url) throw new StepError('subscribe: need a URL');
        const filters = await api.enum('CIM_FilterCollection');
        if (filters.status !== 200) throw new StepError('Enumerate CIM_FilterCollection: status ' + filters.status);
        const all = filters.items.find((f) => f.InstanceID === 'Intel(r) AMT:All');
        if (!all) throw new StepError('no Intel(r) AMT:All filter', { filters: filters.items });
        const r = await api.subscribe(mode || 'Push', url, { InstanceID: all.InstanceID }, user, pass);
        if (r.status !== 200) throw new StepError('Subscribe: status ' + r.status + (wsmanError(r) ? ' (' + wsmanError(r) + ')' : ''), { status: r.status });
        const listed = await api.batch(['CIM_ListenerDestination', 'CIM_FilterCollectionSubscription'], true);
        const listeners = listed.responses.CIM_ListenerDestination.responses;
        return Object.assign({
            status: r.status,
            filters: filters.items.map((f) => f.CollectionName.substring(13)),
            destinations: listeners.map((l) => l.Destination),
            delivery_modes: listeners.map((l) => l.DeliveryMode),
        }, common());
    }
    case 'unsubscribe': {
        const url = a.args[0];
        if (!url) throw new StepError('unsubscribe: need a URL');
        const listed = await api.batch(['CIM_ListenerDestination', 'CIM_FilterCollectionSubscription'], true);
        const listeners = listed.responses.CIM_ListenerDestination.responses;
        const subs = listed.responses.CIM_FilterCollectionSubscription.responses;
        const c = listeners.findIndex((l) => l.Destination === url);
        if (c < 0) throw new StepError('no subscriber ' + url, { destinations: listeners.map((l) => l.Destination) });
        const anon = '<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>';
        const r = await api.unsubscribe({
            Filter: '<a:EndpointReference>' + anon + '<a:ReferenceParameters><w:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_FilterCollection</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">' + subs[c].Filter.ReferenceParameters.SelectorSet.Selector.Value + '</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference>',
            Handler: '<a:EndpointReference>' + anon + '<a:ReferenceParameters><w:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ListenerDestinationWSManagement</w:ResourceURI><w:SelectorSet><w:Selector Name="CreationClassName">CIM_ListenerDestinationWSMAN</w:Selector><w:Selector Name="Name">' + listeners[c].Name + '</w:Selector><w:Selector Name="SystemCreationClassName">CIM_ComputerSystem</w:Selector><w:Selector Name="SystemName">Intel(r) AMT</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference>',
        });
        if (r.status !== 200) throw new StepError('Unsubscribe: status ' + r.status + (wsmanError(r) ? ' (' + wsmanError(r) + ')' : ''), { status: r.status });
        const after = await api.enum('CIM_ListenerDestination');
        return Object.assign({ status: r.status, destinations: after.items.map((l) => l.Destination) }, common());
    }
    default:
        throw new StepError('unknown op ' + a.op + '; ' + USAGE.split('\n')[1]);
    }
}

async function finishClock(api, out, common) {
    // MeshCentral only sets the clock when it is >10 s off; we always exercise both calls.
    const g = await api.getLowAccuracyTimeSynch();
    const gr = returnValue('GetLowAccuracyTimeSynch', g);
    if (gr.rv !== 0) throw new StepError('GetLowAccuracyTimeSynch returned ' + gr.rv + ' ' + gr.str);
    const ta0 = g.response.Body.Ta0;
    if (typeof ta0 !== 'number') throw new StepError('GetLowAccuracyTimeSynch: Ta0 is not a number: ' + JSON.stringify(ta0));
    const now = Math.round(Date.now() / 1000);
    const s = returnValue('SetHighAccuracyTimeSynch', await api.setHighAccuracyTimeSynch(ta0, now, now));
    if (s.rv !== 0) throw new StepError('SetHighAccuracyTimeSynch returned ' + s.rv + ' ' + s.str);
    return Object.assign(out, { ta0, clock_drift_s: ta0 - now, set_time_return_value: s.rv }, common());
}

function main(a) {
    C.watchdog(CLIENT, a.op, a.op === 'fullstate' ? 300 : 60);
    run(a).then(
        (fields) => C.succeed(CLIENT, a.op, fields),
        (err) => C.fail(CLIENT, a.op, err && err.message ? err.message : err, err && err.extra),
    );
}

const args = C.parseArgs(CLIENT, USAGE);
if (args) main(args);
