// amtemu's dashboard: a fleet view and a device page over the control API
// beside it (GET /api/v1/devices with filters and counts, the detail,
// power, faults and setup-mode endpoints, the event stream, and the SOL and
// KVM WebSockets). Plain DOM, no framework; xterm.js and noVNC are loaded
// only when a console is opened.

const PAGE = 100;
const POWER_ACTIONS = ["on", "off", "cycle", "reset", "sleep", "hibernate", "button", "os-shutdown"];
const FAULT_FLAGS = ["offline", "hang", "tls_failure", "stale_nonces", "expire_enumerations"];
const FILTERS = ["firmware", "power", "provisioning", "cira", "faults"];

const main = document.getElementById("main");
// What tests and curious people can reach from the console.
const dashboard = (window.dashboard = { terminal: null, rfb: null });

// h("td", {class: "x"}, child, "text"): an element; strings become text
// nodes, so nothing from the API is ever parsed as HTML.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

async function api(path, options = {}) {
  const init = { ...options, headers: { "Content-Type": "application/json" } };
  if (options.body !== undefined) init.body = JSON.stringify(options.body);
  const res = await fetch(path, init);
  const text = await res.text();
  let body;
  try { body = text ? JSON.parse(text) : {}; } catch { body = { error: text }; }
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

const devicePath = (name) => `/api/v1/devices/${encodeURIComponent(name)}`;
const stateSpan = (s) => h("span", { class: `state ${s}` }, s ?? "—");

// ---------------------------------------------------------------- events

// One event stream for the page; views register what they do with events.
let onEvent = () => {};
function connectEvents() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/v1/events");
  source.onopen = () => { live.textContent = "● live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "○ reconnecting"; live.className = "live"; };
  source.onmessage = (e) => {
    try { onEvent(JSON.parse(e.data)); } catch (err) { console.warn(err); }
  };
  source.addEventListener("lagged", () => onEvent({ lagged: true }));
}

// Calls f at most once per `ms`, the last call winning.
function throttle(f, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; f(); }, ms);
  };
}

// ---------------------------------------------------------------- fleet view

function fleetQuery() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  return params;
}

function setFleetQuery(params) {
  const q = params.toString();
  location.hash = q ? `#/?${q}` : "#/";
}

async function fleetView() {
  const params = fleetQuery();
  const offset = Number(params.get("offset") || 0);
  const query = new URLSearchParams({ offset, limit: PAGE, counts: "true" });
  for (const f of [...FILTERS, "name"]) if (params.get(f)) query.set(f, params.get(f));

  const counts = h("div", { class: "counts", "data-testid": "counts" });
  const filters = h("div", { class: "filters" });
  const table = h("table", { "data-testid": "devices" });
  const pager = h("div", { class: "pager" });
  const message = h("div", { class: "message muted" });
  main.replaceChildren(counts, filters, message, table, pager);

  let data;
  const render = async () => {
    try {
      data = await api(`/api/v1/devices?${query}`);
    } catch (err) {
      message.textContent = err.message;
      return;
    }
    renderCounts(counts, data, params);
    renderFilters(filters, data, params);
    message.textContent = `${data.total.toLocaleString()} of ${data.fleet.toLocaleString()} devices`;
    message.dataset.total = data.total;
    renderTable(table, data.devices);
    renderPager(pager, data, params, offset);
  };
  await render();
  // Power changes and the like move devices between filters: refresh the
  // page and counts, at most once a second however busy the fleet is.
  const refresh = throttle(render, 1000);
  onEvent = refresh;
}

function renderCounts(box, data, params) {
  const c = data.counts;
  const group = (title, key, entries) =>
    h("div", { class: "group", "data-group": key },
      h("h3", {}, title),
      entries.map(([value, n]) => {
        const active = params.get(key) === value;
        return h("button", {
          class: active ? "chip active" : "chip",
          "data-filter": `${key}=${value}`,
          onclick: () => {
            const p = new URLSearchParams(params);
            if (active) p.delete(key); else p.set(key, value);
            p.delete("offset");
            setFleetQuery(p);
          },
        }, value, h("b", {}, n.toLocaleString()));
      }));
  box.replaceChildren(
    h("div", { class: "group" }, h("h3", {}, "devices"), h("b", { "data-testid": "fleet-size" }, data.fleet.toLocaleString())),
    group("power", "power", Object.entries(c.power)),
    group("provisioning", "provisioning", Object.entries(c.provisioning)),
    group("CIRA", "cira", Object.entries(c.cira)),
    group("faults", "faults", Object.entries(c.faults)),
    group("firmware", "firmware", Object.entries(c.firmware)),
  );
}

function renderFilters(box, data, params) {
  const choices = {
    firmware: Object.keys(data.counts.firmware),
    power: ["s0", "s3", "s4", "s5", "off"],
    provisioning: ["pre", "in", "post"],
    cira: ["off", "connecting", "connected"],
    faults: ["faulted", "clear", "stopped"],
  };
  const apply = () => {
    const p = new URLSearchParams();
    for (const el of box.querySelectorAll("[name]")) if (el.value) p.set(el.name, el.value);
    setFleetQuery(p);
  };
  const selects = FILTERS.map((f) =>
    h("label", {}, `${f} `,
      h("select", { name: f, onchange: apply },
        h("option", { value: "" }, "any"),
        choices[f].map((v) => h("option", { value: v, selected: params.get(f) === v }, v)))));
  const name = h("input", { name: "name", placeholder: "name contains…", value: params.get("name") || "" });
  name.addEventListener("keydown", (e) => { if (e.key === "Enter") apply(); });
  box.replaceChildren(...selects, h("label", {}, "name ", name),
    h("button", { onclick: apply }, "Filter"),
    h("button", { onclick: () => setFleetQuery(new URLSearchParams()) }, "Clear"));
}

function renderTable(table, devices) {
  const head = h("tr", {}, ["name", "address", "firmware", "power", "provisioning", "faults"].map((t) => h("th", {}, t)));
  const rows = devices.map((d) =>
    h("tr", { "data-device": d.name },
      h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.name)}` }, d.name)),
      h("td", {}, d.address),
      h("td", {}, d.firmware),
      h("td", {}, stateSpan(d.power)),
      h("td", {}, stateSpan(d.provisioning)),
      h("td", {}, d.faults ? h("span", { class: "state faulted" }, faultSummary(d.faults)) : "")));
  table.replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
}

function faultSummary(plan) {
  const on = Object.entries(plan).filter(([, v]) => v && !(Array.isArray(v) && v.length === 0));
  return on.map(([k, v]) => (v === true ? k : `${k}=${JSON.stringify(v)}`)).join(", ");
}

function renderPager(box, data, params, offset) {
  const go = (o) => { const p = new URLSearchParams(params); p.set("offset", o); setFleetQuery(p); };
  const last = Math.max(0, data.total - 1);
  box.replaceChildren(
    h("button", { disabled: offset === 0, onclick: () => go(Math.max(0, offset - PAGE)) }, "‹ previous"),
    h("span", {}, data.total ? `${offset + 1}–${Math.min(offset + PAGE, data.total)} of ${data.total.toLocaleString()}` : "no devices"),
    h("button", { disabled: data.next_offset === undefined, onclick: () => go(data.next_offset) }, "next ›"),
    h("button", { disabled: data.next_offset === undefined, onclick: () => go(last - (last % PAGE)) }, "last »"),
  );
}

// ---------------------------------------------------------------- device page

async function deviceView(name) {
  const path = devicePath(name);
  const title = h("h1", {}, name);
  const message = h("div", { class: "message", "data-testid": "message" });
  const cards = h("div", { class: "cards" });
  const timeline = h("ol", { class: "timeline", "data-testid": "timeline" });
  const consoles = h("div", { class: "consoles" }, solPanel(name), kvmPanel(name));
  main.replaceChildren(h("p", {}, h("a", { href: "#/" }, "← fleet")), title, message, cards,
    h("div", { class: "card" }, h("h2", {}, "timeline (since this page opened)"), timeline), h("br"), consoles);

  const say = (text, bad) => { message.textContent = text; message.className = bad ? "message notice" : "message"; };
  const act = async (what, f) => {
    try { await f(); say(`${what}: done`); } catch (err) { say(`${what}: ${err.message}`, true); }
    await render();
  };
  const render = async () => {
    let d, hello;
    try {
      [d, hello] = await Promise.all([api(path), api(`${path}/hello`)]);
    } catch (err) { say(err.message, true); return; }
    cards.replaceChildren(
      card("identity", {
        uuid: d.identity.uuid, realm: d.identity.realm, mac: d.identity.mac, serial: d.identity.serial,
        address: d.address, "host name": d.host_name, domain: d.domain_name, users: d.users,
      }),
      card("firmware", {
        profile: d.firmware.name, version: d.firmware.version, build: d.firmware.build, TLS: d.tls_enabled ? "enabled" : "off",
      }),
      h("div", { class: "card" }, h("h2", {}, "power"),
        h("dl", {},
          h("dt", {}, "state"), h("dd", { "data-testid": "power" }, stateSpan(d.power)),
          d.power_destination ? [h("dt", {}, "going to"), h("dd", {}, d.power_destination)] : []),
        h("div", { class: "buttons" }, POWER_ACTIONS.map((a) =>
          h("button", { "data-power": a, onclick: () => act(`power ${a}`, () => api(`${path}/power`, { method: "POST", body: { action: a } })) }, a)))),
      h("div", { class: "card" }, h("h2", {}, "provisioning and hellos"),
        h("dl", {},
          h("dt", {}, "state"), h("dd", {}, stateSpan(d.provisioning.state)),
          h("dt", {}, "mode"), h("dd", {}, d.provisioning.mode ?? "—"),
          h("dt", {}, "hellos sent"), h("dd", {}, hello.retries_sent ?? 0),
          h("dt", {}, "delivered"), h("dd", {}, String(hello.delivered ?? false)),
          h("dt", {}, "given up"), h("dd", {}, String(hello.given_up ?? false)),
          h("dt", {}, "last server"), h("dd", {}, hello.last_server ?? "—"),
          h("dt", {}, "last error"), h("dd", {}, hello.last_error ?? "—")),
        h("div", { class: "buttons" },
          h("button", { "data-action": "setup-mode", onclick: () => act("setup mode", () => api(`${path}/setup-mode`, { method: "POST" })) }, "enter setup mode"))),
      h("div", { class: "card" }, h("h2", {}, "CIRA"),
        h("dl", {},
          h("dt", {}, "tunnel"), h("dd", {}, stateSpan(d.cira.state)),
          h("dt", {}, "MPS"), h("dd", {}, d.cira.mps ?? "—"),
          h("dt", {}, "since"), h("dd", {}, d.cira.since ? new Date(d.cira.since * 1000).toLocaleString() : "—"),
          h("dt", {}, "connects"), h("dd", {}, d.cira.connects),
          h("dt", {}, "last error"), h("dd", {}, d.cira.last_error ?? "—")),
        h("div", { class: "buttons" },
          h("button", { onclick: () => act("user-initiated connection", () => api(`${path}/cira/connect`, { method: "POST" })) }, "call for help"))),
      faultCard(path, d.faults, act),
    );
  };
  await render();
  const refresh = throttle(render, 300);
  onEvent = (e) => {
    if (e.lagged || e.device !== name) return;
    const ev = e.event;
    const what = ev.type === "power_changed" ? `power ${ev.from} → ${ev.to}`
      : ev.type === "booted" ? `booted from ${ev.target}`
      : ev.type === "session_opened" ? `${ev.kind} session opened`
      : ev.type === "session_closed" ? `${ev.kind} session closed`
      : `${ev.type.replace("_", " ")}: ${ev.what ?? ""}`;
    timeline.prepend(h("li", {}, `${new Date().toLocaleTimeString()}  ${what}`));
    refresh();
  };
}

function card(title, fields) {
  return h("div", { class: "card" }, h("h2", {}, title),
    h("dl", {}, Object.entries(fields).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")])));
}

function faultCard(path, plan, act) {
  const put = (change) => act("faults", () => api(`${path}/faults`, { method: "PUT", body: { ...plan, ...change } }));
  const toggles = FAULT_FLAGS.map((f) =>
    h("label", {}, h("input", { type: "checkbox", "data-fault": f, checked: !!plan[f], onchange: (e) => put({ [f]: e.target.checked }) }), ` ${f.replace("_", " ")}`));
  const status = h("input", { type: "number", min: 100, max: 999, placeholder: "e.g. 503", value: plan.http_error ?? "", style: "width:6em" });
  return h("div", { class: "card toggles" }, h("h2", {}, "faults"), toggles,
    h("label", {}, "answer every request with HTTP ", status, " ",
      h("button", { "data-action": "http-error", onclick: () => put({ http_error: status.value ? Number(status.value) : null }) }, "set")),
    h("div", { class: "buttons" }, h("button", { class: "danger", "data-action": "clear-faults", onclick: () => act("faults cleared", () => api(`${path}/faults`, { method: "DELETE" })) }, "clear all")));
}

const wsUrl = (name, kind) =>
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${devicePath(name)}/${kind}`;

// Serial-over-LAN: the device allows one console at a time, so nothing is
// opened until asked.
function solPanel(name) {
  const box = h("div", { class: "terminal-box", "data-testid": "terminal" });
  let ws = null;
  const button = h("button", { "data-action": "sol", onclick: async () => {
    if (ws) { ws.close(); return; }
    const { Terminal } = await import("/assets/xterm.js");
    box.replaceChildren();
    const term = new Terminal({ cols: 80, rows: 25, convertEol: false, fontSize: 14 });
    dashboard.terminal = term;
    term.open(box);
    ws = new WebSocket(wsUrl(name, "sol"));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => {
      if (typeof e.data === "string") term.write(`\r\n\x1b[33m[${e.data}]\x1b[0m\r\n`);
      else term.write(new Uint8Array(e.data));
    };
    ws.onopen = () => { term.focus(); button.textContent = "close console"; };
    ws.onclose = () => { ws = null; button.textContent = "open console"; };
    const encoder = new TextEncoder();
    term.onData((s) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(s)); });
  } }, "open console");
  return h("div", { class: "console" }, h("h2", {}, "Serial-over-LAN", button), box);
}

// The screen over KVM, with noVNC; one session per device, as SOL.
function kvmPanel(name) {
  const box = h("div", { class: "screen-box", "data-testid": "screen" });
  const note = h("span", { class: "muted" });
  let rfb = null;
  const button = h("button", { "data-action": "kvm", onclick: async () => {
    if (rfb) { rfb.disconnect(); return; }
    const { default: RFB } = await import("/assets/novnc-rfb.js");
    box.replaceChildren();
    // Our own socket, so the server's close reason can be shown.
    const ws = new WebSocket(wsUrl(name, "kvm"));
    ws.binaryType = "arraybuffer";
    ws.addEventListener("close", (e) => { if (e.reason) note.textContent = e.reason; });
    rfb = new RFB(box, ws, { shared: true });
    dashboard.rfb = rfb;
    rfb.scaleViewport = true;
    rfb.addEventListener("connect", () => { note.textContent = "connected"; button.textContent = "disconnect"; });
    rfb.addEventListener("disconnect", () => { rfb = null; button.textContent = "connect screen"; if (note.textContent === "connected") note.textContent = "disconnected"; });
  } }, "connect screen");
  return h("div", { class: "console" }, h("h2", {}, "KVM screen", button, note), box);
}

// ---------------------------------------------------------------- routing

async function route() {
  if (dashboard.terminal) { dashboard.terminal.dispose(); dashboard.terminal = null; }
  if (dashboard.rfb) { dashboard.rfb.disconnect(); dashboard.rfb = null; }
  onEvent = () => {};
  const m = location.hash.match(/^#\/device\/([^?]+)/);
  if (m) await deviceView(decodeURIComponent(m[1]));
  else await fleetView();
  document.body.dataset.ready = location.hash || "#/";
}

window.addEventListener("hashchange", route);
connectEvents();
route();
