// Tatawwu dashboard: fetches the read API every few seconds (unless paused) and redraws in
// place. No framework, no build step; charts are SVG drawn by charts.js, each with a title,
// a description and its figures as a table, and every table and series can be saved as CSV.
"use strict";

const { node, titled, barChart, dataTable, csvText, download } = window.Charts;
const params = new URLSearchParams(location.search);
const REFRESH_MS = Number(params.get("refresh")) || 3000;
const SLOW_EVERY = 10;  // organisations and sectors (all-time totals): every tenth refresh
const DIMENSIONS = ["gender", "age_band", "nationality_group", "municipality"];
const ZONE = "Asia/Qatar";

let lang = localStorage.getItem("tatawwu.lang") === "ar" ? "ar" : "en";
let asOf = /^\d{4}-\d{2}-\d{2}$/.test(params.get("as_of") || "") ? params.get("as_of") : null;
let paused = false;
let loops = 0;
const last = {};  // the latest documents, so a language switch redraws without fetching

const t = (key) => window.TEXT[lang][key];
const locale = () => (lang === "ar" ? "ar-QA-u-nu-latn" : "en-GB");
const num = (n, digits = 0) =>
  n === null || n === undefined ? "—" : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
const pct = (r, digits) => {  // small rates keep their significant digits (0.0102%)
  if (r === null || r === undefined) return "—";
  const d = digits ?? (r > 0 && r < 0.001 ? 4 : r > 0 && r < 0.01 ? 3 : 2);
  return `${num(r * 100, d)}%`;
};
const bidi = (text) => node("bdi", { dir: "ltr" }, text);  // "12 / 40" reads the same in RTL
const el = (id) => document.getElementById(id);
const label = (v) => t("values")[v] ?? t("places")[v] ?? v;
const qatarToday = () => new Intl.DateTimeFormat("en-CA", { timeZone: ZONE }).format(new Date());

class HttpError extends Error {
  constructor(path, status) { super(`${path}: ${status}`); this.status = status; }
}

async function getJson(path) {
  // "no-cache": revalidate with the ETag every time (a 304 costs the API almost nothing).
  const response = await fetch(path, { cache: "no-cache" });
  if (!response.ok) throw new HttpError(path, response.status);
  return response.json();
}

async function allOrganizations() {  // every page (the API sorts by id; we rank by hours)
  const items = [];
  let cursor = null;
  for (let page = 0; page < 50; page++) {
    const doc = await getJson(`/v1/organizations?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...doc.items);
    cursor = doc.next_cursor;
    if (!cursor) break;
  }
  return { items };
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
  document.title = `${lang === "ar" ? "تطوع" : "Tatawwu"} — ${t("title")}`;
  for (const n of document.querySelectorAll("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  const switcher = el("lang");
  switcher.setAttribute("aria-label", t("langLabel"));
  for (const span of switcher.querySelectorAll("span[lang]")) span.classList.toggle("current", span.lang === lang);
  drawPause();
  draw();
}

function drawPause() {
  const button = el("pause");
  button.textContent = paused ? t("resume") : t("pause");
  button.setAttribute("aria-pressed", String(paused));
  el("status").textContent = paused ? t("paused") : last.problem ? t(last.problem) : "";
}

function monthIndex(month) {  // "2026-11" -> months since year 0
  const [y, m] = month.split("-").map(Number);
  return y * 12 + m - 1;
}

function drawTrajectory(kpi) {
  const svg = el("trajectory");
  const actual = kpi.monthly.filter((m) => m.rate !== null);
  const end = actual[actual.length - 1];
  titled(svg, "trajectory", t("trajectoryTitle"), t("trajectoryDesc")(end ? pct(end.rate) : "—", end ? end.month : "—"));
  const W = 720, H = 240, L = 48, R = 16, T = 12, B = 28;
  const path = kpi.trajectory.path;
  const months = [...actual.map((m) => m.month), ...path.map((p) => p.month), "2030-12"];
  const x0 = Math.min(...months.map(monthIndex)), x1 = monthIndex("2030-12");
  const yMax = Math.max(0.12, ...actual.map((m) => m.rate * 1.15));
  const x = (month) => L + ((monthIndex(month) - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const y = (rate) => T + (1 - rate / yMax) * (H - T - B);
  const marks = node("g", { "aria-hidden": "true" });
  for (let r = 0; r <= yMax + 1e-9; r += 0.02) {
    marks.append(node("line", { class: "axis", x1: L, x2: W - R, y1: y(r), y2: y(r) }));
    marks.append(node("text", { x: L - 6, y: y(r) + 4, "text-anchor": "end" }, `${Math.round(r * 100)}%`));
  }
  for (let year = Math.ceil(x0 / 12); year <= 2030; year++) {
    marks.append(node("text", { x: x(`${year}-01`), y: H - 8, "text-anchor": "middle" }, String(year)));
  }
  marks.append(node("line", { class: "goal", x1: L, x2: W - R, y1: y(0.1), y2: y(0.1) }));
  if (path.length > 1) {
    marks.append(node("polyline", { class: "path", points: path.map((p) => `${x(p.month)},${y(p.rate)}`).join(" ") }));
  }
  if (actual.length) {
    marks.append(node("polyline", { class: "actual", points: actual.map((m) => `${x(m.month)},${y(m.rate)}`).join(" ") }));
    marks.append(node("circle", { class: "dot", cx: x(end.month), cy: y(end.rate), r: 5 }));
  }
  svg.append(marks);
  dataTable(el("monthly-table"), t("trajectoryTitle"), [t("month"), t("active"), t("rate")],
    kpi.monthly.map((m) => [m.month, m.suppressed ? t("withheld") : num(m.active), m.suppressed ? t("withheld") : pct(m.rate)]));
}

function cellRows(cells, dimension) {
  let rows = Object.entries(cells).map(([key, c]) => ({
    key, label: label(key), value: c.suppressed ? null : c.rate, suppressed: c.suppressed,
    text: `${pct(c.rate)} · ${num(c.active)}`, cell: c,
  }));
  if (dimension === "age_band") rows.sort((a, b) => parseInt(a.key, 10) - parseInt(b.key, 10));
  else rows.sort((a, b) => (b.value ?? -1) - (a.value ?? -1));
  return rows;
}

function drawBreakdowns(kpi) {
  const holder = el("breakdowns");
  for (const dim of DIMENSIONS) {
    let figure = document.getElementById(`breakdown-${dim}`);
    if (!figure) {
      figure = node("figure", { id: `breakdown-${dim}`, class: "breakdown", "data-testid": `breakdown-${dim}` });
      const details = node("details");
      details.append(node("summary", { "data-i18n": "dataTable" }, t("dataTable")), node("table", { class: "data", id: `table-${dim}` }));
      const csv = node("button", { type: "button", class: "csv", "data-csv": `breakdown-${dim}`, "data-i18n": "csv" }, t("csv"));
      figure.append(node("h3", { id: `h-${dim}` }), node("svg", { id: `chart-${dim}`, class: "chart bars-chart" }), details, csv);
      holder.append(figure);
    }
    const rows = cellRows(kpi.breakdowns[dim] ?? {}, dim);
    const title = `${t("dims")[dim]} — ${t("share")}`;
    figure.querySelector("h3").textContent = t("dims")[dim];
    const top = rows.filter((r) => !r.suppressed).sort((a, b) => b.value - a.value)[0];
    const desc = t("chartDesc")(top ? `${top.label} ${top.text}` : "—", rows.filter((r) => r.suppressed).length);
    barChart(el(`chart-${dim}`), `chart-${dim}`, title, desc, rows, t("withheld"));
    dataTable(el(`table-${dim}`), title, [t("group"), t("active"), t("population"), t("share")],
      rows.map((r) => [r.label, r.suppressed ? t("withheld") : num(r.cell.active), num(r.cell.population),
        r.suppressed ? t("withheld") : pct(r.cell.rate)]));
  }
}

function drawKpi(kpi) {
  const rate = el("kpi-rate");
  rate.textContent = kpi.national.suppressed ? t("withheld") : pct(kpi.national.rate);
  rate.dataset.value = kpi.national.rate ?? "";
  el("kpi-active").textContent = kpi.national.suppressed ? t("withheld") : num(kpi.national.active);
  el("kpi-active").dataset.value = kpi.national.active ?? "";
  el("kpi-population").textContent = num(kpi.national.population);
  el("kpi-target").textContent = t("targetValue");
  const g = kpi.trajectory.monthly_growth_needed;
  el("kpi-growth").textContent = kpi.trajectory.on_track ? t("onTrack") : g === null ? "—" : pct(g, 2);
  el("kpi-value").textContent = kpi.hours.suppressed ? t("withheld") : `${num(kpi.hours.economic_value)} ${t("qar")}`;
  el("as-of-shown").textContent = kpi.as_of;
  el("data-through").textContent = kpi.data_through;
  document.body.dataset.asOf = kpi.as_of;
  drawTrajectory(kpi);
  drawBreakdowns(kpi);
  const rows = Object.entries(kpi.breakdowns.municipality).sort((a, b) => (b[1].rate ?? -1) - (a[1].rate ?? -1));
  const top = Math.max(0.0001, ...rows.map(([, c]) => c.rate ?? 0));
  el("municipalities").replaceChildren(...rows.map(([name, cell]) => {
    const tr = node("tr", { "data-testid": "municipality-row", "data-municipality": name,
      "data-active": cell.active ?? "", "data-suppressed": String(cell.suppressed) });
    tr.append(node("td", { class: "name" }, t("places")[name] ?? name));
    const meter = node("div", { class: "meter" });
    meter.append(node("span", { style: `width:${((cell.rate ?? 0) / top) * 100}%` }));
    const bar = node("td");
    bar.append(meter);
    tr.append(bar);
    tr.append(cell.suppressed
      ? node("td", { class: "rate withheld" }, t("withheld"))
      : node("td", { class: "rate" }, `${pct(cell.rate)} · ${num(cell.active)}`));
    return tr;
  }));
  el("suppression-note").textContent = t("suppression")(kpi.min_cell);
}

function drawCampaigns(page) {
  const rows = page.items.map((c) => {
    const tr = node("tr", { "data-testid": "campaign-row", "data-campaign-id": c.campaign_id,
      "data-fill-rate": c.fill_rate ?? "", "data-verified-hours": c.verified_hours, "data-signups": c.signups });
    tr.append(node("td", {}, lang === "ar" ? c.title_ar || c.title_en : c.title_en || c.title_ar));
    tr.append(node("td", {}, t("places")[c.municipality] ?? c.municipality ?? "—"));
    const cell = node("td");
    const meter = node("div", { class: "meter" });
    meter.append(node("span", { style: `width:${(c.fill_rate ?? 0) * 100}%` }));
    cell.append(meter, node("small", {}, pct(c.fill_rate, 1)));
    tr.append(cell);
    const seats = node("td", { class: "num" });
    seats.append(bidi(`${num(c.signups)} / ${num(c.capacity)}`));
    tr.append(seats);
    tr.append(node("td", { class: "num" }, num(c.check_ins)));
    tr.append(node("td", { class: "num" }, num(c.verified_hours, 1)));
    return tr;
  });
  if (!rows.length) rows.push(node("tr", {}, t("noCampaigns")));
  el("campaigns").replaceChildren(...rows);
}

function drawLive(activity) {
  // Complete hours only; a withheld bucket (1..k-1 check-ins) is drawn hatched, and the
  // total is withheld with it (consumers/api/DISCLOSURE.md).
  const total = el("checkins-total");
  total.textContent = activity.suppressed ? t("withheld") : num(activity.check_ins);
  total.dataset.value = activity.check_ins ?? "";
  const svg = el("live");
  const hidden = activity.buckets.filter((b) => b.suppressed).length;
  titled(svg, "live", t("liveTitle"), t("liveDesc")(activity.suppressed ? t("withheld") : num(activity.check_ins), hidden));
  const W = 360, H = 120, B = 18, gap = 2;
  const top = Math.max(1, ...activity.buckets.map((b) => b.check_ins ?? 0));
  const w = W / activity.buckets.length - gap;
  const hour = (b) => new Date(b.start).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", timeZone: ZONE });
  const marks = node("g", { "aria-hidden": "true" });
  activity.buckets.forEach((b, i) => {
    const h = b.suppressed ? H - B - 14 : ((b.check_ins ?? 0) / top) * (H - B - 14);
    const cls = b.suppressed ? "bar withheld" : "bar";
    marks.append(node("rect", { class: cls, x: i * (w + gap), y: H - B - h, width: w, height: Math.max(h, 1), "data-suppressed": String(b.suppressed) }));
    if (i % 6 === 0) marks.append(node("text", { x: i * (w + gap), y: H - 4 }, hour(b)));
  });
  svg.append(marks);
  dataTable(el("live-table"), t("liveTitle"), [t("hour"), t("checkins")],
    activity.buckets.map((b) => [hour(b), b.suppressed ? t("withheld") : num(b.check_ins)]));
}

function drawSectors(doc) {
  const rows = doc.items.map((s) => ({ key: s.sector, label: label(s.sector), value: s.volunteers_engaged,
    suppressed: false, text: num(s.volunteers_engaged) })).sort((a, b) => b.value - a.value);
  const desc = t("sectorsDesc")(rows.length ? `${rows[0].label} ${rows[0].text}` : "—");
  barChart(el("sectors-chart"), "sectors-chart", t("sectors"), desc, rows, t("withheld"));
  dataTable(el("sectors-table"), t("sectors"), [t("sector"), t("orgCount"), t("campaigns"), t("engaged"), t("hours")],
    doc.items.map((s) => [label(s.sector), num(s.organizations), num(s.campaigns), num(s.volunteers_engaged), num(s.verified_hours, 1)]));
}

function drawOrganizations(doc) {
  const top = [...doc.items].sort((a, b) => b.verified_hours - a.verified_hours).slice(0, 10);
  dataTable(el("organizations"), t("organizations"), [t("organization"), t("sector"), t("campaigns"), t("engaged"), t("hours")],
    top.map((o) => [lang === "ar" ? o.name_ar || o.name_en || o.org_id : o.name_en || o.name_ar || o.org_id,
      label(o.sector ?? "unknown"), num(o.campaigns), num(o.volunteers_engaged), num(o.verified_hours, 1)]));
}

function drawFreshness(doc) {
  el("freshness").replaceChildren(...doc.projections.map((p) => {
    const age = p.seconds_since_applied;
    const state = p.status !== "ok" ? "stale" : p.lag === 0 ? "ok" : p.lag !== null && p.lag < 1000 ? "slow" : "stale";
    const li = node("li", { "data-testid": `freshness-${p.name}`, "data-lag": p.lag ?? "", "data-state": state, "data-events": p.events_applied ?? "" });
    li.append(node("span", { class: `light ${state}` }));
    const detail = p.status !== "ok" ? t("missing")
      : `${t("lag")} ${num(p.lag)} · ${num(p.events_applied)} ${t("events")} · ${age === null ? t("never") : `${num(Math.max(0, age), 0)} ${t("ago")}`}`;
    li.append(node("strong", {}, t("projections")[p.name] ?? p.name), node("span", {}, detail));
    return li;
  }));
}

function draw() {
  if (last.kpi) drawKpi(last.kpi);
  if (last.campaigns) drawCampaigns(last.campaigns);
  if (last.activity) drawLive(last.activity);
  if (last.projections) drawFreshness(last.projections);
  if (last.sectors) drawSectors(last.sectors);
  if (last.organizations) drawOrganizations(last.organizations);
  if (last.at) el("refreshed").textContent = last.at.toLocaleTimeString(locale());
}

async function refresh() {
  const day = asOf ? `?as_of=${asOf}` : "";
  const wanted = {
    kpi: () => getJson(`/v1/kpi/participation${day}`),
    campaigns: () => getJson("/v1/campaigns?status=active&sort=-fill_rate&limit=10"),
    activity: () => getJson(`/v1/activity/recent${day}`),
    projections: () => getJson("/v1/projections"),
  };
  if (loops % SLOW_EVERY === 0) {
    wanted.sectors = () => getJson("/v1/sectors");
    wanted.organizations = allOrganizations;
  }
  loops += 1;
  const keys = Object.keys(wanted);
  const results = await Promise.allSettled(keys.map((k) => wanted[k]()));
  last.problem = null;
  results.forEach((result, i) => {
    if (result.status === "fulfilled") last[keys[i]] = result.value;
    else {
      console.warn(result.reason);
      last.problem = result.reason.status === 422 ? "badDay" : "failed";
    }
  });
  last.at = new Date();
  draw();
  drawPause();
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
}

const CSV = {
  national: () => [["as_of", "data_through", "municipality", "active", "population", "rate", "suppressed"],
    [[last.kpi.as_of, last.kpi.data_through, last.kpi.municipality, last.kpi.national.active,
      last.kpi.national.population, last.kpi.national.rate, last.kpi.national.suppressed]]],
  monthly: () => [["month", "active", "rate", "suppressed"], last.kpi.monthly.map((m) => [m.month, m.active, m.rate, m.suppressed])],
  trajectory: () => [["month", "rate"], last.kpi.trajectory.path.map((p) => [p.month, p.rate])],
  activity: () => [["start", "check_ins", "suppressed"], last.activity.buckets.map((b) => [b.start, b.check_ins, b.suppressed])],
  campaigns: () => [["campaign_id", "title_en", "title_ar", "municipality", "capacity", "signups", "check_ins", "verified_hours", "fill_rate"],
    last.campaigns.items.map((c) => [c.campaign_id, c.title_en, c.title_ar, c.municipality, c.capacity, c.signups, c.check_ins, c.verified_hours, c.fill_rate])],
  sectors: () => [["sector", "organizations", "campaigns", "volunteers_engaged", "verified_hours"],
    last.sectors.items.map((s) => [s.sector, s.organizations, s.campaigns, s.volunteers_engaged, s.verified_hours])],
  organizations: () => [["org_id", "name_en", "name_ar", "sector", "status", "campaigns", "volunteers_engaged", "verified_hours"],
    last.organizations.items.map((o) => [o.org_id, o.name_en, o.name_ar, o.sector, o.status, o.campaigns, o.volunteers_engaged, o.verified_hours])],
  projections: () => [["name", "status", "events_applied", "lag", "last_event_time", "seconds_since_applied"],
    last.projections.projections.map((p) => [p.name, p.status, p.events_applied, p.lag, p.last_event_time, p.seconds_since_applied])],
};
for (const dim of DIMENSIONS) {
  CSV[`breakdown-${dim}`] = () => [["dimension", "value", "active", "population", "rate", "suppressed"],
    Object.entries(last.kpi.breakdowns[dim] ?? {}).map(([v, c]) => [dim, v, c.active, c.population, c.rate, c.suppressed])];
}

document.addEventListener("click", (e) => {
  const button = e.target.closest("button.csv");
  if (!button) return;
  try {
    const [headers, rows] = CSV[button.dataset.csv]();
    const day = last.kpi ? last.kpi.as_of : qatarToday();
    download(`tatawwu-${button.dataset.csv}-${day}.csv`, csvText(headers, rows));
  } catch (err) {
    console.warn(err);  // nothing received yet for that table: say so, never silently
    el("status").textContent = t("notYet");
  }
});

el("lang").addEventListener("click", () => {
  lang = lang === "ar" ? "en" : "ar";
  localStorage.setItem("tatawwu.lang", lang);
  applyLanguage();
});

el("pause").addEventListener("click", () => {
  paused = !paused;
  drawPause();
});

function chooseDay(value) {
  asOf = value && value !== qatarToday() ? value : null;
  el("as-of").value = asOf ?? qatarToday();
  const url = new URL(location.href);
  if (asOf) url.searchParams.set("as_of", asOf); else url.searchParams.delete("as_of");
  history.replaceState(null, "", url);
  refresh();  // an explicit choice is shown even while paused
}

el("as-of").addEventListener("change", (e) => chooseDay(e.target.value));
el("today").addEventListener("click", () => chooseDay(null));

async function loop() {
  document.body.dataset.ticks = String(Number(document.body.dataset.ticks || 0) + 1);
  try {
    if (!paused) await refresh();
  } finally {
    setTimeout(loop, REFRESH_MS);  // after each refresh ends: slow answers never pile up
  }
}

el("as-of").max = qatarToday();
el("as-of").value = asOf ?? qatarToday();
applyLanguage();
loop();
