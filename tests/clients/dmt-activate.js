#!/usr/bin/env node
'use strict';
// Host-based activation the way DMT's rpc-go/RPS do it: the activation
// messages (IPS_HostBasedSetupService Setup, AddNextCertInChain, AdminSetup)
// come from the Device Management Toolkit message builder (npm
// @device-management-toolkit/wsman-messages) and go over the RPS-style
// transport of wsman-messages.js, to the device's local interface.
//
//   node dmt-activate.js HOST PORT USER PASS ccm NEW_ADMIN_PASS
//   node dmt-activate.js HOST PORT USER PASS acm NEW_ADMIN_PASS LEAF.der ROOT.der KEY.pk8 [--tamper]
//   node dmt-activate.js HOST PORT USER PASS upgrade NEW_ADMIN_PASS LEAF.der ROOT.der KEY.pk8
//
// USER/PASS are the local system account's. --tamper signs other bytes than
// ConfigurationNonce || McNonce, which the device must refuse.
// Prints one JSON object as the last stdout line; exit 0 only on success.

const crypto = require('crypto');
const fs = require('fs');
const C = require('./common');
const { RpsTransport, StepError, bodyOf, scalar } = require('./wsman-messages');

const CLIENT = 'dmt-activate';
const USAGE = 'dmt-activate.js HOST PORT USER PASS ccm|acm|upgrade NEW_ADMIN_PASS [LEAF.der ROOT.der KEY.pk8] [--tamper]';
const HBS = 'IPS_HostBasedSetupService';

async function run(a) {
    const { IPS } = require(C.nodeModule('@device-management-toolkit/wsman-messages'));
    const hbs = new IPS.Messages().HostBasedSetupService;
    const t = new RpsTransport(a);
    const state = async () => {
        const b = bodyOf('Get ' + HBS, await t.send(hbs.Get(), 'Get ' + HBS), HBS);
        return {
            current: scalar(b.CurrentControlMode),
            nonce: String(scalar(b.ConfigurationNonce)),
            chain: scalar(b.CertChainStatus),
        };
    };
    const invoke = async (what, xml) => {
        const b = bodyOf(what, await t.send(xml, what), what + '_OUTPUT');
        return scalar(b.ReturnValue);
    };
    const before = await state();
    const newPass = a.args[0];
    if (!newPass) throw new StepError('missing NEW_ADMIN_PASS');
    // NetworkAdminPassword: hex MD5("admin:" realm ":" password), type 2.
    const realm = t.challenge.realm;
    const digest = crypto.createHash('md5').update('admin:' + realm + ':' + newPass).digest('hex');
    const out = { before: before.current, realm };
    if (a.op === 'ccm') {
        out.setup = await invoke('Setup', hbs.Setup(2, digest));
    } else if (a.op === 'acm' || a.op === 'upgrade') {
        const [leafPath, rootPath, keyPath] = a.args.slice(1);
        if (!keyPath) throw new StepError('acm needs LEAF.der ROOT.der KEY.pk8');
        const b64 = (p) => fs.readFileSync(p).toString('base64');
        out.leaf = await invoke('AddNextCertInChain', hbs.AddNextCertInChain(b64(leafPath), true, false));
        out.root = await invoke('AddNextCertInChain', hbs.AddNextCertInChain(b64(rootPath), false, true));
        const s = await state();
        out.chain_status = s.chain;
        const configNonce = Buffer.from(s.nonce, 'base64');
        const mcNonce = crypto.randomBytes(20);
        const signed = a.flags.has('--tamper') ? Buffer.concat([mcNonce, configNonce]) : Buffer.concat([configNonce, mcNonce]);
        const key = crypto.createPrivateKey({ key: fs.readFileSync(keyPath), format: 'der', type: 'pkcs8' });
        const signature = crypto.sign('sha256', signed, { key, padding: crypto.constants.RSA_PKCS1_PADDING });
        out.config_nonce_bytes = configNonce.length;
        if (a.op === 'acm') {
            out.admin_setup = await invoke('AdminSetup',
                hbs.AdminSetup(2, digest, mcNonce.toString('base64'), 2, signature.toString('base64')));
        } else {
            out.upgrade = await invoke('UpgradeClientToAdmin',
                hbs.UpgradeClientToAdmin(mcNonce.toString('base64'), 2, signature.toString('base64')));
        }
    } else {
        throw new StepError('unknown op ' + a.op + '; ' + USAGE);
    }
    out.after = (await state()).current;
    return out;
}

const args = C.parseArgs(CLIENT, USAGE);
if (args) {
    C.watchdog(CLIENT, args.op, 90);
    run(args).then(
        (fields) => C.succeed(CLIENT, args.op, fields),
        (err) => C.fail(CLIENT, args.op, err && err.message ? err.message : err, err && err.extra),
    );
}
