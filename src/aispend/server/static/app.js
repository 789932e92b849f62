// aispend dashboard: draws the plotly figures the server describes, and keeps the explorer's
// filter rows (dimension + value) in step with the hidden `where=DIM=VALUE` fields it submits.
"use strict";

function drawFigures() {
  if (!window.Plotly) return;
  document.querySelectorAll("[data-figure]").forEach((el) => {
    const spec = JSON.parse(document.getElementById(el.dataset.figure).textContent);
    window.Plotly.newPlot(el, spec.data, spec.layout, { displaylogo: false, responsive: true })
      .then(() => el.setAttribute("data-drawn", "1"));
  });
}

function valuesFor(row) {
  const dim = row.querySelector(".where-dim").value;
  const list = row.querySelector("datalist");
  if (!dim || list.dataset.dim === dim) return;
  list.dataset.dim = dim;
  fetch("/api/v1/values?dimension=" + encodeURIComponent(dim), { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : []))
    .then((values) => { list.replaceChildren(...values.slice(0, 200).map((v) => new Option(v))); });
}

function syncWhere(row) {
  const dim = row.querySelector(".where-dim").value;
  const value = row.querySelector(".where-value").value;
  const hidden = row.querySelector("input[name=where]");
  hidden.value = dim && value !== "" ? dim + "=" + value : "";
  hidden.disabled = hidden.value === "";  // an empty filter is not sent
}

function explorer() {
  const form = document.querySelector("[data-testid=explorer-form]");
  if (!form) return;
  form.querySelectorAll(".where-row").forEach((row) => {
    syncWhere(row);
    row.querySelector(".where-dim").addEventListener("change", () => { valuesFor(row); syncWhere(row); });
    row.querySelector(".where-value").addEventListener("input", () => syncWhere(row));
    row.querySelector(".where-value").addEventListener("focus", () => valuesFor(row));
  });
  form.addEventListener("submit", () => {
    form.querySelectorAll(".where-row").forEach(syncWhere);
    // Empty fields stay out of the URL, so a shared link holds only what the view needs.
    form.querySelectorAll("input[name=month], input[name=start], input[name=end], select[name=granularity]")
      .forEach((el) => { if (!el.value) el.disabled = true; });
  });
}

document.addEventListener("DOMContentLoaded", () => { drawFigures(); explorer(); });
