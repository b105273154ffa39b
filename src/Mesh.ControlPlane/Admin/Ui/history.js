// The dashboard's History section: kept config versions, the diff of one against its predecessor, and
// rollback with a confirmation. Uses get(), cell() and fill() of app.js; follows the config version of /v1/events.
"use strict";

(() => {
  let followNewest = true; // the diff shown is the newest version's until another is picked
  let current = 0;
  let pending = null; // the version a confirmation dialog is open for
  // Refreshes and diffs overlap (an event during a refresh): only the latest one started may draw, or a
  // slow answer about an older version would replace a newer one.
  let refreshes = 0;
  let diffs = 0;

  function changes(c) {
    const parts = [...c.added.map((r) => `+${r}`), ...c.removed.map((r) => `-${r}`), ...c.changed.map((r) => `~${r}`)];
    return parts.length ? parts.join(", ") : "no resource changed";
  }

  function button(text, className, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.className = className;
    b.addEventListener("click", onClick);
    return b;
  }

  function renderDiff(title, resources) {
    document.querySelector("#history-diff h3").textContent = title;
    const body = document.querySelector("#history-diff .diffs");
    body.replaceChildren(...(resources.length ? resources : [null]).map((r) => {
      const pre = document.createElement("pre");
      if (r === null) {
        pre.textContent = "no resource differs";
        return pre;
      }
      const head = document.createElement("div");
      head.className = `diff-head ${r.change}`;
      head.textContent = `${r.change}: ${r.kind} ${r.namespace}/${r.name}`;
      pre.append(head);
      for (const line of r.diff.split("\n").filter((l) => l.length)) {
        const span = document.createElement("span");
        span.className = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
        span.textContent = line + "\n";
        pre.append(span);
      }
      return pre;
    }));
  }

  async function showDiff(version, previous) {
    const mine = ++diffs;
    if (previous === undefined) {
      renderDiff(`Version ${version}: the oldest kept`, []);
      return;
    }
    const diff = await get(`/v1/config/diff?from=${previous}&to=${version}`);
    if (mine === diffs) renderDiff(`Version ${version} against ${previous}`, diff.resources);
  }

  async function askRollback(version) {
    pending = version;
    const diff = await get(`/v1/config/diff?from=${current}&to=${version}`);
    const dialog = document.getElementById("rollback-confirm");
    dialog.querySelector(".question").textContent =
      `Roll back to version ${version}? A new version will serve version ${version}'s resources, checked like any change.`;
    dialog.querySelector("ul").replaceChildren(...diff.resources.map((r) => {
      const li = document.createElement("li");
      li.textContent = `${r.change}: ${r.kind} ${r.namespace}/${r.name}`;
      return li;
    }));
    dialog.showModal();
  }

  async function rollback() {
    const version = pending;
    document.getElementById("rollback-confirm").close();
    const response = await fetch("/v1/config/rollback", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "content-type": "application/json" }, body: JSON.stringify({ version }),
    });
    const result = await response.json();
    const out = document.getElementById("history-result");
    out.className = response.ok ? "healthy" : "error";
    out.replaceChildren(...[
      response.ok ? (result.changed ? `Rolled back to version ${version}: now version ${result.version}.` : `Version ${version} serves what runs now: nothing changed.`)
        : `Rollback to version ${version} refused (${response.status}); the running config is unchanged.`,
      ...(result.errors ?? []),
    ].map((text) => {
      const div = document.createElement("div");
      div.textContent = text;
      return div;
    }));
    await refresh();
  }

  async function refresh() {
    const mine = ++refreshes;
    const history = await get("/v1/config/history");
    if (mine !== refreshes) return;
    current = history.current;
    const versions = history.versions;
    fill("history", versions.map((v, i) => {
      const previous = versions[i + 1]?.version;
      const actions = cell("");
      actions.append(button("Diff", "diff", () => {
        followNewest = i === 0;
        showDiff(v.version, previous).catch(() => {});
      }));
      if (v.version !== current) actions.append(button("Rollback", "rollback", () => askRollback(v.version).catch(() => {})));
      const row = [cell(v.version === current ? `${v.version} (running)` : String(v.version)), cell(new Date(v.at).toLocaleString()),
        cell(v.rolledBackTo ? `${v.how} to ${v.rolledBackTo}` : v.how), cell(v.who), cell(changes(v.changes)), actions];
      row[0].dataset.version = v.version;
      return row;
    }));
    document.querySelector("#history .summary").textContent =
      `${versions.length} version(s) kept (the newest ${history.capacity} at most); running version ${current}.`;
    if (versions.length && followNewest) {
      await showDiff(versions[0].version, versions[1]?.version);
    }
  }

  function start(events) {
    document.getElementById("rollback-yes").addEventListener("click", () => rollback().catch(() => {}));
    document.getElementById("rollback-no").addEventListener("click", () => document.getElementById("rollback-confirm").close());
    events.addEventListener("config", () => refresh().catch(() => {}));
    // Also by the snapshot events' configVersion: a change made after this page read the history but
    // before its event stream connected comes as the stream's first snapshot, with no config event.
    events.addEventListener("snapshot", (e) => {
      if (JSON.parse(e.data).configVersion !== current) refresh().catch(() => {});
    });
    return refresh();
  }

  window.meshHistory = { start, refresh };
})();
