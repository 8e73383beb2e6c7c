'use strict';
// Drives amtemu's dashboard in real headless Chromium (Debian's `chromium`,
// through playwright-core installed by install.sh), as a person would: it
// clicks, types and reads what the page shows.
//
//   node dashboard.js URL OP [ARGS...]
//
//   fleet SHOT          the fleet view: rows and total, then the "faulted"
//                       chip and a name filter; screenshot to SHOT
//   power NAME ACTION   the device page's power button ACTION
//   fault NAME FLAG     ticks the fault toggle FLAG on the device page
//   sol NAME SHOT       opens the SOL terminal, logs in, runs `uname -a`;
//                       screenshot of the device page to SHOT
//   kvm NAME            connects the KVM screen, counts lit canvas pixels
//   load                fleet view load time and Chromium's memory
//
// The last stdout line is one JSON object ({"ok": true, ...} or
// {"ok": false, "error": ...}), as for the other drivers.

const path = require('path');
const fs = require('fs');
const os = require('os');
const common = require('./common.js');

const CLIENT = 'dashboard';
const TIMEOUT = 20000;

function playwright() {
    return require(path.join(common.prefix(), 'dashboard', 'driver', 'node_modules', 'playwright-core'));
}

async function launch() {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'amtemu-chromium-'));
    // Nothing leaves the machine: no background requests, no updates. The
    // fresh profile is Chromium's --user-data-dir (playwright passes it).
    const context = await playwright().chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1400, height: 1000 },
        args: [
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ],
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
    const close = async () => {
        await context.close();
        fs.rmSync(profile, { recursive: true, force: true });
    };
    return { page, errors, close, profile };
}

// The proportional set size (shared pages split between sharers) of the
// Chromium started with this profile and every process under it, summed.
function pss(profile) {
    const procs = new Map();
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        try {
            const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
            const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
            const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            procs.set(pid, { ppid, mine: cmd.includes(profile) });
        } catch {
            // Gone meanwhile.
        }
    }
    const ours = (pid, depth = 0) => {
        const p = procs.get(pid);
        return !!p && depth < 20 && (p.mine || ours(p.ppid, depth + 1));
    };
    let total = 0;
    for (const pid of procs.keys()) {
        if (!ours(pid)) continue;
        try {
            const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
            if (m) total += Number(m[1]) * 1024;
        } catch {
            // Gone meanwhile.
        }
    }
    return total;
}

const deviceHash = (name) => `#/device/${encodeURIComponent(name)}`;

async function openDevice(page, url, name) {
    await page.goto(`${url}/${deviceHash(name)}`);
    await page.waitForSelector('[data-testid=power] .state');
    // Every value shown as text, none as a stringified element.
    const text = await page.locator('main').innerText();
    if (text.includes('[object ')) throw new Error(`the device page shows object placeholders:\n${text}`);
}

// The text on the terminal's screen (xterm's buffer, as shown).
async function terminalText(page) {
    return page.evaluate(() => {
        const t = window.dashboard.terminal;
        if (!t) return '';
        const b = t.buffer.active;
        const lines = [];
        for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
        return lines.join('\n');
    });
}

async function waitForTerminal(page, pattern, ms = TIMEOUT) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        const text = await terminalText(page);
        if (pattern.test(text)) return text;
        await page.waitForTimeout(200);
    }
    throw new Error(`the terminal never showed ${pattern}; it shows:\n${await terminalText(page)}`);
}

async function rowCount(page) {
    return page.locator('[data-testid=devices] tbody tr').count();
}

async function shownTotal(page) {
    return Number(await page.locator('.message').getAttribute('data-total'));
}

// Waits until the fleet view shows `total` matching devices.
async function waitForTotal(page, total) {
    await page.waitForFunction((t) => document.querySelector('.message')?.dataset.total === String(t), total);
}

const ops = {
    async fleet(url, [shot]) {
        const { page, errors, close } = await launch();
        try {
            await page.goto(url + '/');
            await page.waitForSelector('[data-testid=devices] tbody tr');
            const fleet = Number((await page.locator('[data-testid=fleet-size]').textContent()).replace(/\D/g, ''));
            const all = { rows: await rowCount(page), total: await shownTotal(page) };
            const firstPage = await page.locator('[data-testid=devices] tbody tr td:first-child').allTextContents();
            // Next page.
            await page.getByRole('button', { name: 'next ›', exact: true }).click();
            await page.waitForFunction(() => location.hash.includes('offset=100'));
            await page.waitForSelector('[data-testid=devices] tbody tr');
            const secondFirst = await page.locator('[data-testid=devices] tbody tr td:first-child').first().textContent();
            // The "faulted" count, clicked.
            await page.locator('[data-filter="faults=faulted"]').click();
            const faultedCount = Number((await page.locator('[data-filter="faults=faulted"] b').textContent()).replace(/\D/g, ''));
            await waitForTotal(page, faultedCount);
            const faulted = await page.locator('[data-testid=devices] tbody tr td:first-child').allTextContents();
            // A name filter typed in.
            await page.getByRole('button', { name: 'Clear', exact: true }).click();
            await page.waitForFunction(() => !location.hash.includes('faults'));
            await page.fill('input[name=name]', 'amt-0099');
            await page.press('input[name=name]', 'Enter');
            await page.waitForFunction(() => location.hash.includes('name=amt-0099'));
            // The list is re-drawn when the answer comes: wait for rows that
            // all match (an emptied table in between also has fewer than 100).
            await page.waitForFunction(() => {
                const cells = [...document.querySelectorAll('[data-testid=devices] tbody tr td:first-child')];
                return cells.length > 0 && cells.every((c) => c.textContent.includes('amt-0099'));
            });
            const named = await page.locator('[data-testid=devices] tbody tr td:first-child').allTextContents();
            // Back to everything for the picture.
            await page.getByRole('button', { name: 'Clear', exact: true }).click();
            await waitForTotal(page, fleet);
            await page.screenshot({ path: shot, fullPage: false });
            common.succeed(CLIENT, 'fleet', {
                fleet, rows: all.rows, total: all.total, first_page: firstPage, second_page_first: secondFirst,
                faulted, named, errors,
            });
        } finally {
            await close();
        }
    },

    async power(url, [name, action]) {
        const { page, errors, close } = await launch();
        try {
            await openDevice(page, url, name);
            await page.locator(`[data-power="${action}"]`).click();
            await page.waitForFunction(() => /: (done|.+)/.test(document.querySelector('[data-testid=message]').textContent));
            const message = await page.locator('[data-testid=message]').textContent();
            if (!message.endsWith('done')) throw new Error(message);
            // The event stream moves the page on its own.
            await page.waitForFunction(() => document.querySelector('[data-testid=timeline] li'), null, { timeout: 15000 });
            const timeline = await page.locator('[data-testid=timeline] li').allTextContents();
            const power = await page.locator('[data-testid=power]').textContent();
            common.succeed(CLIENT, 'power', { message, timeline, power, errors });
        } finally {
            await close();
        }
    },

    async fault(url, [name, flag]) {
        const { page, errors, close } = await launch();
        try {
            await openDevice(page, url, name);
            const box = page.locator(`[data-fault="${flag}"]`);
            await box.check();
            await page.waitForFunction(() => /faults: /.test(document.querySelector('[data-testid=message]').textContent));
            const message = await page.locator('[data-testid=message]').textContent();
            if (!message.endsWith('done')) throw new Error(message);
            // The page re-read the device: the toggle stays on.
            const checked = await page.locator(`[data-fault="${flag}"]`).isChecked();
            common.succeed(CLIENT, 'fault', { message, checked, errors });
        } finally {
            await close();
        }
    },

    async sol(url, [name, shot]) {
        const { page, errors, close } = await launch();
        try {
            await openDevice(page, url, name);
            await page.locator('[data-action=sol]').click();
            await page.waitForFunction(() => window.dashboard.terminal);
            // A console attaching to a running host sees the last screen;
            // Enter brings a fresh prompt either way.
            await page.waitForTimeout(500);
            await page.locator('[data-testid=terminal]').click();
            await page.keyboard.press('Enter');
            await waitForTerminal(page, /login: *$/m);
            await page.keyboard.type('root');
            await page.keyboard.press('Enter');
            await waitForTerminal(page, /Password: *$/m);
            await page.keyboard.type('amtemu');
            await page.keyboard.press('Enter');
            await waitForTerminal(page, /[#$>] *$/m);
            await page.keyboard.type('uname -a');
            await page.keyboard.press('Enter');
            const text = await waitForTerminal(page, /^Linux \S+ \S+-amtemu/m);
            await page.screenshot({ path: shot, fullPage: true });
            common.succeed(CLIENT, 'sol', { text, errors });
        } finally {
            await close();
        }
    },

    async kvm(url, [name]) {
        const { page, errors, close } = await launch();
        try {
            await openDevice(page, url, name);
            await page.locator('[data-action=kvm]').click();
            await page.waitForSelector('[data-testid=screen] canvas');
            // Count the pixels that are not black once the first update is drawn.
            let lit = 0, size = null;
            const end = Date.now() + TIMEOUT;
            while (Date.now() < end && lit === 0) {
                await page.waitForTimeout(300);
                ({ lit, size } = await page.evaluate(() => {
                    const c = document.querySelector('[data-testid=screen] canvas');
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let n = 0;
                    for (let i = 0; i < d.length; i += 4) if (d[i] > 40 || d[i + 1] > 40 || d[i + 2] > 40) n++;
                    return { lit: n, size: [c.width, c.height] };
                }));
            }
            const note = await page.locator('.console .muted').last().textContent();
            common.succeed(CLIENT, 'kvm', { lit, size, note, errors });
        } finally {
            await close();
        }
    },

    // Time from navigation to the first page of the fleet drawn with its
    // counts, and the browser's memory afterwards (JS heap of the page and
    // the resident memory of every Chromium process).
    async load(url) {
        const { page, errors, close, profile } = await launch();
        try {
            const t0 = Date.now();
            await page.goto(url + '/');
            await page.waitForSelector('[data-testid=devices] tbody tr');
            await page.waitForSelector('[data-testid=fleet-size]');
            const loadMs = Date.now() - t0;
            const fleet = await page.locator('[data-testid=fleet-size]').textContent();
            // A filter over the whole fleet, as a person would click it.
            const t1 = Date.now();
            await page.locator('[data-filter="faults=clear"]').click();
            await page.waitForFunction(() => (document.body.dataset.ready || '').includes('faults=clear'));
            const filterMs = Date.now() - t1;
            const cdp = await page.context().newCDPSession(page);
            await cdp.send('HeapProfiler.collectGarbage').catch(() => {});
            const heap = await cdp.send('Runtime.getHeapUsage');
            common.succeed(CLIENT, 'load', {
                fleet, load_ms: loadMs, filter_ms: filterMs,
                js_heap_used_bytes: heap.usedSize, js_heap_total_bytes: heap.totalSize,
                chromium_pss_bytes: pss(profile), errors,
            });
        } finally {
            await close();
        }
    },
};

async function main() {
    const [url, op, ...args] = process.argv.slice(2);
    if (!url || !ops[op]) {
        common.fail(CLIENT, op || '', 'usage: dashboard.js URL fleet|power|fault|sol|kvm|load [ARGS...]');
        return;
    }
    const host = new URL(url).hostname;
    if (!common.isLoopback(host)) {
        common.fail(CLIENT, op, `refusing non-loopback ${host}`);
        return;
    }
    try {
        await ops[op](url, args);
    } catch (e) {
        common.fail(CLIENT, op, e && e.stack ? e.stack : e);
    }
}

main();
