'use strict';
// Runs MeshCentral's own Intel AMT hello server (amtprovisioningserver.js)
// on a loopback address and reports the hellos it accepted.
//
// Usage: meshcentral-hello.js HOST PORT COUNT [SECONDS]
// Prints "listening" on stderr once the server accepts connections, then,
// when COUNT distinct device addresses sent a hello MeshCentral accepted
// (or SECONDS passed), a last stdout line of JSON:
//   {"ok":true,"hellos":[{addr,version,retryCount,guid,adminCredentialsSet,hashes}],"invalid":[addr...]}
//
// MeshCentral's server is built for its own process: it wants a parent with
// a certificate store, a web server with device groups and a debug log. We
// give it the least of each so it gets as far as parsing: a hello it
// accepts is logged "Got hello from ADDR" and kept in obj.devices[ADDR];
// one it rejects is logged "Got invalid hello from: ADDR". It then stops
// for want of a device group, which is all we need.

const net = require('net');
const common = require('./common');

const [host, portStr, countStr, secondsStr] = process.argv.slice(2);
const port = Number(portStr);
const want = Number(countStr || 1);
const seconds = Number(secondsStr || 30);
if (!common.isLoopback(host || '') || !Number.isInteger(port)) {
    common.fail('meshcentral-hello', 'listen', 'usage: meshcentral-hello.js LOOPBACK_HOST PORT COUNT [SECONDS]');
    return;
}

// MeshCentral listens on every interface; keep it on the loopback address
// the test gave.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (p, ...rest) {
    return listen.call(this, p, host, ...rest.filter((a) => typeof a === 'function'));
};

const accepted = [];
const invalid = [];
let server = null;

const parent = {
    certificateOperations: {
        forge: { pki: { certificateFromPem: () => ({ subject: { getField: () => ({ value: 'amtemu test root' }) } }) } },
    },
    certificates: { root: { cert: '' } },
    webserver: { meshes: {} },
    debug: (category, ...args) => {
        const msg = args.join(' ');
        let m = /^Got hello from (.*)$/.exec(msg);
        if (m) { accepted.push(m[1]); setImmediate(check); return; }
        m = /^Got invalid hello from: (.*)$/.exec(msg);
        if (m) { invalid.push(m[1]); setImmediate(check); }
    },
};

function report() {
    const hellos = accepted.map((addr) => {
        const d = server.devices[addr] || {};
        return {
            addr,
            version: d.helloversion,
            retryCount: d.retryCount,
            guid: d.guid,
            adminCredentialsSet: d.adminCredentialsSet,
            hashes: d.hashes,
        };
    });
    return { hellos, invalid };
}

function check() {
    if (accepted.length + invalid.length >= want) {
        const r = report();
        if (invalid.length === 0) common.succeed('meshcentral-hello', 'listen', r);
        else common.fail('meshcentral-hello', 'listen', 'MeshCentral rejected ' + invalid.length + ' hello(s)', r);
    }
}

const amtps = require(common.nodeModule('meshcentral/amtprovisioningserver.js'));
server = amtps.CreateAmtProvisioningServer(parent, { newmebxpassword: 'Amtemu-1!', port, devicegroup: 'mesh//none' });
if (server == null) {
    common.fail('meshcentral-hello', 'listen', 'MeshCentral refused its configuration');
    return;
}
server.server.on('listening', () => process.stderr.write('listening\n'));
setTimeout(() => common.fail('meshcentral-hello', 'listen', 'timeout after ' + seconds + ' s', report()), seconds * 1000).unref();
