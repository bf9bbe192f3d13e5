// The console's only script (CSP: script-src 'self'): sortable tables, charts from the
// page's JSON data block, and the live event feed. Text goes in with textContent only.
"use strict";

function sortableTables() {
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("th[data-sort]").forEach((th, index) => {
      th.addEventListener("click", () => {
        const body = table.tBodies[0];
        const numeric = th.dataset.sort === "num";
        const descending = th.dataset.dir !== "desc";
        th.dataset.dir = descending ? "desc" : "asc";
        const key = (row) => {
          const cell = row.cells[index];
          const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
          return numeric ? parseFloat(raw) || 0 : raw.trim().toLowerCase();
        };
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const order = x < y ? -1 : x > y ? 1 : 0;
          return descending ? -order : order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  });
}

const PALETTE = ["#1f4e79", "#1b6e3a", "#b3261e", "#8a5a00", "#6a3d9a", "#0f7b8a", "#c05a9b", "#555"];

function charts() {
  const block = document.getElementById("chart-data");
  if (!block || typeof Chart === "undefined") return;
  const data = JSON.parse(block.textContent);
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const spec = data[canvas.dataset.chart];
    if (!spec) return;
    new Chart(canvas, {
      type: spec.type || "line",
      data: {
        labels: spec.labels,
        datasets: spec.series.map((s, i) => ({
          label: s.label,
          data: s.values,
          borderColor: PALETTE[i % PALETTE.length],
          backgroundColor: PALETTE[i % PALETTE.length],
          tension: 0.2,
          pointRadius: 0,
          yAxisID: s.axis || "y",
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: spec.scales || { y: { beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  });
}

function liveFeed() {
  const table = document.getElementById("live-table");
  if (!table) return;
  const status = document.getElementById("live-status");
  const body = table.tBodies[0];
  let cursor = table.dataset.cursor || "";
  const columns = (table.dataset.columns || "").split(",");
  async function poll() {
    try {
      const response = await fetch("/console/live/events?after=" + encodeURIComponent(cursor), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.status === 303 || response.redirected || response.status === 401) {
        status.textContent = "signed out";
        return;
      }
      const page = await response.json();
      cursor = page.cursor || cursor;
      page.events.forEach((event) => {
        const row = body.insertRow(0);
        row.className = "fresh ev-" + String(event.type).replace(/\./g, "-");
        columns.forEach((column) => {
          const cell = row.insertCell();
          let text = event[column] === undefined || event[column] === null ? "" : String(event[column]);
          if (column === "verification" && text) {
            cell.title = text;
            text = text.slice(0, 12) + "…";
          }
          cell.textContent = text;
        });
      });
      while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
      status.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (error) {
      status.textContent = "retrying…";
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  sortableTables();
  charts();
  liveFeed();
});
