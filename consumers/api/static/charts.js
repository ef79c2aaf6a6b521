// Tatawwu dashboard helpers: DOM nodes, accessible SVG bar charts, data tables, CSV files.
// No framework and nothing fetched from elsewhere: everything the page draws is built here.
(() => {
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const SVG_TAGS = new Set(["svg", "line", "polyline", "circle", "rect", "text", "title", "desc", "g", "pattern", "path", "defs"]);

function node(tag, attrs = {}, text) {
  const n = SVG_TAGS.has(tag) ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// Every chart is an <svg role="img"> named by its <title> and described by its <desc>
// (a sentence a screen reader reads out), followed by the same figures as a real table.
function titled(svg, id, title, description) {
  svg.replaceChildren();
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", `${id}-title`);
  svg.setAttribute("aria-describedby", `${id}-desc`);
  svg.append(node("title", { id: `${id}-title` }, title), node("desc", { id: `${id}-desc` }, description));
}

// rows: [{ key, label, value (number|null), text, suppressed }]; suppressed rows are drawn
// as a dashed, hatched outline labelled "withheld": never as a bar of length 0.
function barChart(svg, id, title, description, rows, withheld) {
  titled(svg, id, title, description);
  const W = 360, row = 26, L = 104, R = 100;
  const H = Math.max(1, rows.length) * row + 6;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const top = Math.max(1e-12, ...rows.map((r) => r.value ?? 0));
  rows.forEach((r, i) => {
    const y = i * row + 4;
    const g = node("g", { "data-key": r.key, "data-suppressed": String(r.suppressed), "aria-hidden": "true" });
    g.append(node("text", { x: L - 6, y: y + 15, "text-anchor": "end" }, r.label));
    if (r.suppressed) {
      g.append(node("rect", { class: "bar withheld", x: L, y, width: (W - L - R) * 0.3, height: row - 8 }));
      g.append(node("text", { class: "withheld", x: L + (W - L - R) * 0.3 + 6, y: y + 15 }, withheld));
    } else {
      const w = ((r.value ?? 0) / top) * (W - L - R);
      g.append(node("rect", { class: "bar", x: L, y, width: Math.max(w, r.value ? 1 : 0), height: row - 8 }));
      g.append(node("text", { x: L + Math.max(w, 0) + 6, y: y + 15 }, r.text));
    }
    svg.append(g);
  });
}

// A data table: headers and rows of already formatted cells (a cell may be a node).
function dataTable(table, caption, headers, rows) {
  table.replaceChildren();
  table.append(node("caption", {}, caption));
  const head = node("tr");
  for (const h of headers) head.append(node("th", { scope: "col" }, h));
  const thead = node("thead");
  thead.append(head);
  const tbody = node("tbody");
  for (const cells of rows) {
    const tr = node("tr");
    cells.forEach((c, i) => {
      const cell = node(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {});
      if (c instanceof Node) cell.append(c); else cell.textContent = c;
      tr.append(cell);
    });
    tbody.append(tr);
  }
  table.append(thead, tbody);
}

// CSV (RFC 4180): the API's own figures, unformatted; a withheld figure is empty and its
// row says suppressed=true, so a withheld cell never reads as 0.
function csvText(headers, rows) {
  const quote = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [headers, ...rows].map((r) => r.map(quote).join(",")).join("\r\n") + "\r\n";
}

function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = node("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);  // a slow, loaded browser still has it
}

window.Charts = { node, titled, barChart, dataTable, csvText, download, SVG_NS };
})();
