// Golden signals per service and the service graph, from /v1/traffic (what sidecars report with heartbeats).
"use strict";

const trafficWindow = "30s";
const svg = "http://www.w3.org/2000/svg";

function health(rate) {
  if (rate == null) return "muted";
  return rate >= 0.999 ? "healthy" : rate >= 0.8 ? "degraded" : "unhealthy";
}

function percent(rate) {
  return rate == null ? "" : `${(rate * 100).toFixed(rate === 1 ? 0 : 2)}%`;
}

function ms(value) {
  return value == null ? "" : `${value < 10 ? value.toFixed(2) : value.toFixed(0)} ms`;
}

function td(text, className) {
  const cell = document.createElement("td");
  cell.textContent = text ?? "";
  if (className) cell.className = className;
  return cell;
}

function renderSignals(view) {
  const body = document.querySelector("#signals tbody");
  body.replaceChildren(...view.services.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.service = s.service;
    tr.append(td(s.service), td(s.requestsPerSecond.toFixed(2)), td(percent(s.successRate), health(s.successRate)),
      td(ms(s.p50Ms)), td(ms(s.p99Ms)), td(String(s.requests)), td(String(s.errors), s.errors ? "unhealthy" : ""));
    return tr;
  }));
  document.querySelector("#signals .summary").textContent = view.services.length
    ? `Calls received over the last ${view.windowSeconds}s, as the callees' sidecars counted them.`
    : `No calls in the last ${view.windowSeconds}s.`;
}

// Callers to the left of what they call: each node's column is its longest path from a node nobody calls.
function layout(edges) {
  const nodes = new Set(edges.flatMap((e) => [e.source, e.service]));
  const column = new Map([...nodes].map((n) => [n, 0]));
  for (let pass = 0; pass < nodes.size; pass++) {
    let moved = false;
    for (const e of edges) {
      if (e.source !== e.service && column.get(e.service) < column.get(e.source) + 1) {
        column.set(e.service, column.get(e.source) + 1);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const rows = new Map();
  const position = new Map();
  for (const node of [...nodes].sort()) {
    const c = column.get(node);
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    position.set(node, { x: 20 + c * 260, y: 30 + r * 90 });
  }
  return position;
}

function element(name, attributes, text) {
  const e = document.createElementNS(svg, name);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

function renderGraph(view) {
  const picture = document.querySelector("#graph svg");
  const position = layout(view.edges);
  const width = Math.max(400, ...[...position.values()].map((p) => p.x + 200));
  const height = Math.max(80, ...[...position.values()].map((p) => p.y + 60));
  picture.setAttribute("viewBox", `0 0 ${width} ${height}`);
  picture.setAttribute("width", width);
  picture.setAttribute("height", height);
  const defs = element("defs", {});
  const marker = element("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse" });
  marker.append(element("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#556" }));
  defs.append(marker);
  const parts = [defs];
  for (const e of view.edges) {
    const from = position.get(e.source), to = position.get(e.service);
    const line = element("line", { x1: from.x + 160, y1: from.y + 18, x2: to.x, y2: to.y + 18, "marker-end": "url(#arrow)", class: `edge ${health(e.successRate)}` });
    line.dataset.source = e.source;
    line.dataset.destination = e.service;
    const label = element("text", { x: (from.x + 160 + to.x) / 2, y: (from.y + to.y) / 2 + 12, class: `edge-label ${health(e.successRate)}`, "text-anchor": "middle" },
      `${e.requestsPerSecond.toFixed(1)} rps · ${percent(e.successRate)}`);
    label.dataset.edge = `${e.source}>${e.service}`;
    parts.push(line, label);
  }
  for (const [name, p] of position) {
    const node = element("g", { class: "node", transform: `translate(${p.x},${p.y})` });
    node.dataset.node = name;
    node.append(element("rect", { width: 160, height: 36, rx: 6 }), element("text", { x: 80, y: 23, "text-anchor": "middle" }, name));
    parts.push(node);
  }
  picture.replaceChildren(...parts);
  document.querySelector("#graph .summary").textContent = view.edges.length
    ? `Who called whom over the last ${view.windowSeconds}s: requests per second and success rate per edge.`
    : `No calls in the last ${view.windowSeconds}s.`;
}

async function refreshTraffic() {
  const response = await fetch(`/v1/traffic?window=${trafficWindow}`, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) return;
  const view = await response.json();
  renderSignals(view);
  renderGraph(view);
}

// Signals move with every heartbeat (2 s), not with snapshots: poll while the page is shown.
function startTraffic() {
  const tick = () => { if (!document.hidden && !document.getElementById("app").hidden) refreshTraffic().catch(() => {}); };
  tick();
  setInterval(tick, 3000);
}

startTraffic();
