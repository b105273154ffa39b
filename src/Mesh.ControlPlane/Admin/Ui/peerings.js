// The dashboard's Peerings section: each peered region with its state, and the instances imported from it,
// marked stale while that region's control plane does not answer (callers still route to them).
// Uses get(), cell() and fill() of app.js, which calls refresh() with the rest of the page.
"use strict";

(() => {
  function renderPeerings(peerings) {
    fill("peerings", peerings.map((p) => {
      const sync = p.state !== "ACTIVE" ? ["", "muted"] : p.stale ? ["STALE", "status-STALE"] : ["SYNCED", "status-SYNCED"];
      const tr = [
        cell(p.name), cell(p.role), cell(p.state, p.state === "ACTIVE" ? "healthy" : "muted"), cell(sync[0], sync[1]),
        cell(p.trustDomain ?? ""), cell(p.region ?? ""), cell(String(p.exportedServices)),
        cell(`${p.healthyImported}/${p.importedInstances}`), cell(p.lastSync ? ago(p.lastSync) : "never"), cell(p.lastError ?? "", p.lastError ? "error" : ""),
      ];
      tr[0].dataset.peer = p.name;
      return tr;
    }));
    document.querySelector("#peerings .summary").textContent = peerings.length
      ? `${peerings.length} peering(s); ${peerings.filter((p) => p.stale).length} with its control plane away (imports kept, marked stale).`
      : "No peerings: meshctl peering generate-token / establish makes one.";
  }

  function renderImported(instances) {
    fill("imported", instances.map((i) => {
      const tr = [
        cell(i.instanceId), cell(`${i.service}.${i.namespace}`), cell(`${i.address}:${i.port}`),
        cell(i.health, i.health === "HEALTHY" ? "healthy" : "unhealthy"), cell(i.peer), cell(i.trustDomain ?? ""),
        cell([i.region, i.zone].filter(Boolean).join("/")), cell(i.stale ? "stale" : "fresh", i.stale ? "status-STALE" : "status-SYNCED"),
      ];
      tr[0].dataset.instance = i.instanceId;
      return tr;
    }));
  }

  async function refresh() {
    const [peerings, imported] = await Promise.all([get("/v1/peerings"), get("/v1/imported")]);
    renderPeerings(peerings);
    renderImported(imported);
  }

  window.meshPeerings = { refresh };
})();
