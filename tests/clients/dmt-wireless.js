#!/usr/bin/env node
'use strict';
// Wireless configuration the way DMT's rpc-go/RPS do it: the messages come
// from the Device Management Toolkit builder (npm
// @device-management-toolkit/wsman-messages) and go over the RPS-style
// transport of wsman-messages.js.
//
//   node dmt-wireless.js HOST PORT USER PASS wifi PROFILE SSID PASSPHRASE PRIORITY
//
// Steps: Get AMT_WiFiPortConfigurationService; CIM_WiFiPort
// RequestStateChange(32769); AddWiFiSettings (WPA2-PSK, CCMP) with the
// passphrase given; the same profile again (the device must refuse the
// duplicate); Enumerate + Pull CIM_WiFiEndpointSettings.
// Prints one JSON object as the last stdout line; exit 0 only on success.

const C = require('./common');
const { RpsTransport, StepError, bodyOf, scalar } = require('./wsman-messages');

const CLIENT = 'dmt-wireless';
const USAGE = 'dmt-wireless.js HOST PORT USER PASS wifi PROFILE SSID PASSPHRASE PRIORITY';

async function run(a) {
    if (a.op !== 'wifi') throw new StepError('unknown op ' + a.op + '; ' + USAGE);
    const [profile, ssid, passphrase, priority] = a.args;
    if (!priority) throw new StepError('usage: ' + USAGE);
    const dmt = require(C.nodeModule('@device-management-toolkit/wsman-messages'));
    const amt = new dmt.AMT.Messages();
    const cim = new dmt.CIM.Messages();
    const t = new RpsTransport(a);
    const invoke = async (what, xml, outName) => {
        const b = bodyOf(what, await t.send(xml, what), outName);
        return scalar(b.ReturnValue);
    };
    bodyOf('Get AMT_WiFiPortConfigurationService',
        await t.send(amt.WiFiPortConfigurationService.Get(), 'Get AMT_WiFiPortConfigurationService'),
        'AMT_WiFiPortConfigurationService');
    const out = {};
    out.port = await invoke('RequestStateChange', cim.WiFiPort.RequestStateChange(32769), 'RequestStateChange_OUTPUT');
    const settings = () => ({
        ElementName: profile,
        InstanceID: 'Intel(r) AMT:WiFi Endpoint Settings ' + profile,
        AuthenticationMethod: 6,
        EncryptionMethod: 4,
        SSID: ssid,
        Priority: Number(priority),
        PSKPassPhrase: passphrase,
    });
    const endpoint = { name: 'Name', value: 'WiFi Endpoint 0' };
    const add = () => invoke('AddWiFiSettings',
        amt.WiFiPortConfigurationService.AddWiFiSettings(settings(), endpoint), 'AddWiFiSettings_OUTPUT');
    out.add = await add();
    out.again = await add();
    const e = bodyOf('Enumerate CIM_WiFiEndpointSettings',
        await t.send(cim.WiFiEndpointSettings.Enumerate(), 'Enumerate'), 'EnumerateResponse');
    const p = bodyOf('Pull CIM_WiFiEndpointSettings',
        await t.send(cim.WiFiEndpointSettings.Pull(String(scalar(e.EnumerationContext))), 'Pull'), 'PullResponse');
    const items = p.Items && p.Items.CIM_WiFiEndpointSettings;
    const list = items == null ? [] : Array.isArray(items) ? items : [items];
    out.ssids = list.map((i) => String(scalar(i.SSID)));
    out.passphrase_returned = list.some((i) => i.PSKPassPhrase != null);
    return out;
}

const args = C.parseArgs(CLIENT, USAGE);
if (args) {
    C.watchdog(CLIENT, args.op, 60);
    run(args).then(
        (fields) => C.succeed(CLIENT, args.op, fields),
        (err) => C.fail(CLIENT, args.op, err && err.message ? err.message : err, err && err.extra),
    );
}
