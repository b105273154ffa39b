// The Mesh dashboard: reads the admin API with the sign-in cookie and follows /v1/events.
"use strict";

class Unauthorized extends Error {}

async function get(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

function fill(sectionId, rows) {
  const body = document.querySelector(`#${sectionId} tbody`);
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }));
}

function ago(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return seconds < 60 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`;
}

function left(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  return seconds > 0 ? `${seconds.toFixed(1)}s` : "lapsed";
}

function renderServices(instances) {
  const byService = new Map();
  for (const i of instances) {
    const key = `${i.service}.${i.namespace}`;
    if (!byService.has(key)) byService.set(key, []);
    byService.get(key).push(i);
  }
  fill("services", [...byService.keys()].sort().map((key) => {
    const list = byService.get(key);
    const healthy = list.filter((i) => i.health === "HEALTHY").length;
    const sources = [...new Set(list.map((i) => (i.source ?? "SIDECAR").toLowerCase()))].join(", ");
    const zones = [...new Set(list.map((i) => i.zone).filter(Boolean))].join(", ");
    const tr = [cell(key), cell(`${healthy}/${list.length}`, healthy === list.length ? "healthy" : "unhealthy"), cell(String(list.length)), cell(sources), cell(zones)];
    tr[0].dataset.service = key;
    return tr;
  }));
  fill("instances", [...instances].sort((a, b) => a.instanceId.localeCompare(b.instanceId)).map((i) => [
    cell(i.instanceId), cell(`${i.service}.${i.namespace}`), cell(`${i.address}:${i.port}`),
    cell(i.health, i.health === "HEALTHY" ? "healthy" : "unhealthy"),
    cell(Object.entries(i.labels ?? {}).map(([k, v]) => (v ? `${k}=${v}` : k)).join(" ")),
    cell([i.region, i.zone].filter(Boolean).join("/")),
    cell((i.source ?? "SIDECAR").toLowerCase() + (i.node ? ` via ${i.node}` : "")),
    cell(left(i.leaseExpiresAt)),
  ]));
}

function renderProxies(proxies) {
  fill("proxies", proxies.map((p) => [
    cell(p.node), cell(`${p.service}.${p.namespace}`), cell(p.status, `status-${p.status}`),
    cell(`${p.appliedVersion} / ${p.currentVersion}`), cell(ago(p.lastSeen)), cell(p.error ?? "", p.error ? "error" : ""),
  ]));
}

function renderConfig(config) {
  const kinds = { virtualServices: "VirtualService", destinationRules: "DestinationRule", serviceEntries: "ServiceEntry",
    peerAuthentications: "PeerAuthentication", authorizationPolicies: "AuthorizationPolicy", gateways: "Gateway", sidecars: "Sidecar" };
  const rows = [];
  for (const [field, kind] of Object.entries(kinds)) {
    for (const r of config.config?.[field] ?? []) {
      rows.push([cell(kind), cell(r.metadata?.namespace), cell(r.metadata?.name), cell(r.source)]);
    }
  }
  document.querySelector("#config .summary").textContent = `Config version ${config.version}: ${rows.length} resource(s).`;
  fill("config", rows);
}

function renderTokens(tokens) {
  fill("tokens", tokens.map((t) => [
    cell(t.id), cell(t.service ? `${t.namespace ?? "default"}/${t.service}` : t.namespace ? `namespace ${t.namespace}` : "any service"),
    cell(t.created), cell(t.expires ?? "never"), cell(t.revoked ? "revoked" : "active", t.revoked ? "unhealthy" : "healthy"), cell(t.description ?? ""),
  ]));
}

function renderCa(ca) {
  const dl = document.querySelector("#ca dl");
  dl.replaceChildren();
  for (const [name, value] of [["trust domain", ca.trustDomain], ["root", ca.rootSubject], ["SHA-256", ca.rootSha256], ["expires", ca.rootNotAfter], ["file", ca.path]]) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

async function refresh() {
  const [instances, proxies, config, tokens, ca] = await Promise.all([
    get("/v1/instances"), get("/v1/proxy-status"), get("/v1/config"), get("/v1/join-tokens"), get("/v1/ca")]);
  renderServices(instances);
  renderProxies(proxies);
  renderConfig(config);
  renderTokens(tokens);
  renderCa(ca);
  await window.meshPeerings?.refresh(); // peerings.js: the Peerings section
  document.getElementById("live").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function signIn() {
  document.getElementById("sign-in").hidden = false;
  document.getElementById("sign-in-failed").hidden = new URLSearchParams(location.search).get("signin") !== "failed";
}

async function start() {
  try {
    await refresh();
  } catch (e) {
    if (e instanceof Unauthorized) return signIn();
    throw e;
  }
  document.getElementById("app").hidden = false;
  document.getElementById("sign-out").hidden = false;
  // Live: one event per new snapshot; refreshes are coalesced.
  let pending = null;
  const events = new EventSource("/v1/events");
  events.addEventListener("snapshot", () => {
    pending ??= setTimeout(() => { pending = null; refresh().catch(() => {}); }, 100);
  });
  await window.meshHistory?.start(events); // history.js: the History section
  // Lease times move on their own.
  setInterval(() => refresh().catch(() => {}), 5000);
}

start();
