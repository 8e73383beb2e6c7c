'use strict';
// Runs MeshCentral's own MPS (mpsserver.js) on a loopback address, waits
// for a CIRA device to connect, then reads its power state and asks it to
// power off through the tunnel with MeshCentral's own WS-Man stack over
// CIRA (amt-wsman-comm.js with the MPS connection, as amtmanager.js does).
//
// Usage: meshcentral-mps.js HOST PORT CERT.pem KEY.pem MESHID USER PASS [SECONDS]
// Prints "listening" on stderr once the MPS accepts connections, then a
// last stdout line of JSON:
//   {"ok":true,"nodeid":..,"presence":7,"ports":[..],"powerstate":2,"power_off":0}
//
// MeshCentral's MPS is built for its own process; we give it the least of
// a parent it needs: one agent-less device group (MESHID, whose id the
// 16-character CIRA user name must start), a database that knows no
// device, and connectivity callbacks we record. No MeshCentral state is
// written anywhere. MeshCentral reverse-resolves a new device's address
// (mpsserver.js, `dns.reverse`); that lookup is answered here, so nothing
// leaves the machine.

const fs = require('fs');
const dns = require('dns');
const common = require('./common');

const [host, portStr, certFile, keyFile, meshKey, user, pass, secondsStr] = process.argv.slice(2);
const port = Number(portStr);
const seconds = Number(secondsStr || 60);
const NAME = 'meshcentral-mps';
if (!common.isLoopback(host || '') || !Number.isInteger(port) || !meshKey || !user || !pass) {
    common.fail(NAME, 'listen', 'usage: meshcentral-mps.js LOOPBACK_HOST PORT CERT KEY MESHID USER PASS [SECONDS]');
    return;
}

// Keep MeshCentral's reverse lookup of the device's address on the machine.
dns.reverse = (addr, cb) => setImmediate(() => cb(null, []));

const meshid = 'mesh//' + meshKey;
let mps = null;
let started = false;

const parent = {
    debug: (category, ...args) => { if (process.env.MPS_DEBUG) process.stderr.write('[' + category + '] ' + args.join(' ') + '\n'); },
    authLog: () => {},
    updateServerState: () => {},
    DispatchEvent: () => {},
    ClearConnectivityState: () => {},
    SetConnectivityState: (mesh, nodeid, connectTime, connType, powerState) => {
        // connType 2: CIRA; powerState 7: present.
        if (connType === 2 && !started) { started = true; setImmediate(() => manage(nodeid, powerState)); }
    },
    config: { domains: { '': { id: '' } } },
    webserver: {
        meshes: { [meshid]: { _id: meshid, mtype: 1, domain: '', name: 'amtemu' } },
        CloneSafeNode: (n) => n,
        trafficStats: { CIRAIn: 0, CIRAOut: 0, LMSIn: 0, LMSOut: 0 },
    },
    amtManager: null,
    mqttbroker: null,
};
const db = {
    Get: (id, cb) => cb(null, []),
    Set: () => {},
};

function stack(ciraconn) {
    const amtDir = common.nodeModule('meshcentral/amt');
    const CreateWsmanComm = require(amtDir + '/amt-wsman-comm.js');
    const WsmanStackCreateService = require(amtDir + '/amt-wsman.js');
    const AmtStackCreateService = require(amtDir + '/amt.js');
    // What amtmanager.js does for a CIRA device (connType 0): plain WS-Man
    // to 16992 through the tunnel, the node id as the host.
    const comm = CreateWsmanComm(ciraconn.tag.nodeid, 16992, 'admin', process.env.AMT_PASSWORD || 'P@ssw0rd', 0, null, ciraconn);
    return AmtStackCreateService(WsmanStackCreateService(comm));
}

function manage(nodeid, presence) {
    const conns = mps.ciraConnections[nodeid];
    if (conns == null || conns.length === 0) { common.fail(NAME, 'cira', 'no CIRA connection for ' + nodeid); return; }
    const ciraconn = conns[0];
    const amtstack = stack(ciraconn);
    const out = { nodeid, presence, ports: ciraconn.tag.boundPorts, address: ciraconn.remoteAddr };
    amtstack.Get('CIM_AssociatedPowerManagementService', (s, name, response, status) => {
        if (status !== 200) { common.fail(NAME, 'power', 'Get CIM_AssociatedPowerManagementService: ' + status, out); return; }
        out.powerstate = response.Body.PowerState;
        amtstack.RequestPowerStateChange(8, (s2, n2, r2, status2) => {
            if (status2 !== 200) { common.fail(NAME, 'power', 'RequestPowerStateChange: ' + status2, out); return; }
            out.power_off = r2.Body.ReturnValue;
            common.succeed(NAME, 'cira', out);
        });
    }, 0, 1);
}

mps = require(common.nodeModule('meshcentral/mpsserver.js')).CreateMpsServer(
    parent, db,
    { mpsport: port, mpsportbind: host, mpspass: pass },
    { mps: { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') }, AmtMpsName: 'localhost' },
);
if (mps == null || mps.server == null) { common.fail(NAME, 'listen', 'MeshCentral refused its configuration'); return; }
mps.server.on('listening', () => process.stderr.write('listening\n'));
setTimeout(() => common.fail(NAME, 'cira', 'timeout after ' + seconds + ' s: no CIRA device managed'), seconds * 1000).unref();
