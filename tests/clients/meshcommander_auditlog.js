#!/usr/bin/env node
'use strict';
// Reads a device's security audit log with MeshCommander's own stack
// (npm meshcentral: amt/amt.js GetAuditLog, which pages AMT_AuditLog.ReadRecords
// and decodes each binary record).
//
//   node meshcommander_auditlog.js HOST PORT USER PASS auditlog [--tls]
//
// Prints one JSON object as the last stdout line: the records as the stack
// decoded them (application, event, initiator, extended data text).

const path = require('path');
const C = require('./common');

const CLIENT = 'meshcommander';
const USAGE = 'meshcommander_auditlog.js HOST PORT USER PASS auditlog [--tls]';

function stack(a) {
    const amtDir = path.join(C.nodeModule('meshcentral'), 'amt');
    const comm = require(path.join(amtDir, 'amt-wsman-comm.js'))(a.host, a.port, a.user, a.pass, a.tls ? 1 : 0);
    comm.xtlsFingerprint = 0;
    const wsstack = require(path.join(amtDir, 'amt-wsman.js'))(comm);
    return require(path.join(amtDir, 'amt.js'))(wsstack);
}

function main(a) {
    if (a.op !== 'auditlog') {
        C.fail(CLIENT, a.op, 'unknown op ' + a.op + '; ' + USAGE);
        return;
    }
    C.watchdog(CLIENT, a.op, 60);
    stack(a).GetAuditLog((s, records, status) => {
        if (status !== 200) {
            C.fail(CLIENT, a.op, 'GetAuditLog: status ' + status, { status });
            return;
        }
        const out = records.map((r) => ({
            app_id: r.AuditAppID,
            event_id: r.EventID,
            app: r.AuditApp || null,
            event: r.Event,
            initiator_type: r.InitiatorType,
            initiator: r.Initiator,
            location: r.MCLocationType,
            extended: r.ExStr,
        }));
        C.succeed(CLIENT, a.op, { status, count: out.length, records: out });
    });
}

const args = C.parseArgs(CLIENT, USAGE);
if (args) main(args);
