// Tatawwu dashboard: fetches the read API every few seconds and redraws in place.
// No framework, no build step; charts are drawn as SVG by hand.
"use strict";

const REFRESH_MS = Number(new URLSearchParams(location.search).get("refresh")) || 3000;
const SVG = "http://www.w3.org/2000/svg";

const TEXT = {
  en: {
    title: "National volunteering dashboard", refreshed: "Last refreshed",
    progress: "Progress toward 10% by 2030", rate: "Participation rate", target: "Target",
    active: "Active volunteers (12 months)", population: "Eligible population",
    growth: "Growth needed per month", value: "Economic value of verified hours",
    actual: "Actual (trailing 12 months)", path: "Path needed", goal: "Target 10%",
    byMunicipality: "Participation by municipality", live: "Check-ins per hour, last 24 complete hours",
    campaigns: "Active campaigns", campaign: "Campaign", municipality: "Municipality",
    fill: "Fill rate", signups: "Sign-ups", checkins: "Check-ins", hours: "Verified hours",
    freshness: "Data freshness", lag: "lag", events: "events", ago: "s ago", never: "never",
    missing: "not running", withheld: "withheld", onTrack: "on track",
    suppression: (k) => `Counts of fewer than ${k} volunteers are withheld to protect privacy.`,
    targetValue: "10% by 2030", qar: "QAR", switchTo: "عربي", noCampaigns: "No active campaigns",
    projections: { campaigns: "Campaigns", volunteers: "Volunteers", organizations: "Organisations", participation: "Participation" },
    places: { doha: "Doha", al_rayyan: "Al Rayyan", al_wakrah: "Al Wakrah", umm_salal: "Umm Salal", al_khor: "Al Khor", al_daayen: "Al Daayen", al_shamal: "Al Shamal", al_shahaniya: "Al Shahaniya", unknown: "Unknown" },
  },
  ar: {
    title: "لوحة التطوع الوطنية", refreshed: "آخر تحديث",
    progress: "التقدم نحو 10٪ بحلول 2030", rate: "نسبة المشاركة", target: "الهدف",
    active: "المتطوعون النشطون (12 شهرًا)", population: "السكان المؤهلون",
    growth: "النمو الشهري المطلوب", value: "القيمة الاقتصادية للساعات الموثقة",
    actual: "الفعلي (آخر 12 شهرًا)", path: "المسار المطلوب", goal: "الهدف 10٪",
    byMunicipality: "المشاركة حسب البلدية", live: "تسجيلات الحضور لكل ساعة، آخر 24 ساعة مكتملة",
    campaigns: "الحملات النشطة", campaign: "الحملة", municipality: "البلدية",
    fill: "نسبة الإشغال", signups: "التسجيلات", checkins: "الحضور", hours: "الساعات الموثقة",
    freshness: "حداثة البيانات", lag: "التأخر", events: "حدث", ago: "ث مضت", never: "لم يحدث",
    missing: "غير مشغّل", withheld: "محجوب", onTrack: "على المسار",
    suppression: (k) => `تُحجب الأعداد التي تقل عن ${k} متطوعين حمايةً للخصوصية.`,
    targetValue: "10٪ بحلول 2030", qar: "ر.ق", switchTo: "English", noCampaigns: "لا توجد حملات نشطة",
    projections: { campaigns: "الحملات", volunteers: "المتطوعون", organizations: "الجهات", participation: "المشاركة" },
    places: { doha: "الدوحة", al_rayyan: "الريان", al_wakrah: "الوكرة", umm_salal: "أم صلال", al_khor: "الخور", al_daayen: "الضعاين", al_shamal: "الشمال", al_shahaniya: "الشيحانية", unknown: "غير معروف" },
  },
};

let lang = localStorage.getItem("tatawwu.lang") === "ar" ? "ar" : "en";
let last = {};  // the latest documents, so a language switch redraws without fetching

const t = (key) => TEXT[lang][key];
const locale = () => (lang === "ar" ? "ar-QA-u-nu-latn" : "en-GB");
const num = (n, digits = 0) =>
  n === null || n === undefined ? "—" : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
// Small rates keep their significant digits (0.0102%, not 0.01%).
const pct = (r, digits) => {
  if (r === null || r === undefined) return "—";
  const d = digits ?? (r > 0 && r < 0.001 ? 4 : r > 0 && r < 0.01 ? 3 : 2);
  return `${num(r * 100, d)}%`;
};
const bidi = (text) => node("bdi", { dir: "ltr" }, text);  // "12 / 40" reads the same in RTL
const el = (id) => document.getElementById(id);

function node(tag, attrs = {}, text) {
  const isSvg = ["line", "polyline", "circle", "rect", "text"].includes(tag);
  const n = isSvg ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

async function getJson(path) {
  // "no-cache": revalidate with the ETag every time (a 304 costs the API almost nothing).
  const response = await fetch(path, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
  document.title = `${lang === "ar" ? "تطوع" : "Tatawwu"} — ${t("title")}`;
  for (const n of document.querySelectorAll("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  el("lang").textContent = t("switchTo");
  draw();
}

function monthIndex(month) {  // "2026-11" -> months since year 0
  const [y, m] = month.split("-").map(Number);
  return y * 12 + m - 1;
}

function drawTrajectory(kpi) {
  const svg = el("trajectory");
  svg.replaceChildren();
  const W = 720, H = 240, L = 48, R = 16, T = 12, B = 28;
  const actual = kpi.monthly.filter((m) => m.rate !== null);
  const path = kpi.trajectory.path;
  const months = [...actual.map((m) => m.month), ...path.map((p) => p.month), "2030-12"];
  const x0 = Math.min(...months.map(monthIndex)), x1 = monthIndex("2030-12");
  const yMax = Math.max(0.12, ...actual.map((m) => m.rate * 1.15));
  const x = (month) => L + ((monthIndex(month) - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const y = (rate) => T + (1 - rate / yMax) * (H - T - B);
  for (let r = 0; r <= yMax + 1e-9; r += 0.02) {
    svg.append(node("line", { class: "axis", x1: L, x2: W - R, y1: y(r), y2: y(r) }));
    svg.append(node("text", { x: L - 6, y: y(r) + 4, "text-anchor": "end" }, `${Math.round(r * 100)}%`));
  }
  for (let year = Math.ceil(x0 / 12); year <= 2030; year++) {
    svg.append(node("text", { x: x(`${year}-01`), y: H - 8, "text-anchor": "middle" }, String(year)));
  }
  svg.append(node("line", { class: "goal", x1: L, x2: W - R, y1: y(0.1), y2: y(0.1) }));
  if (path.length > 1) {
    svg.append(node("polyline", { class: "path", points: path.map((p) => `${x(p.month)},${y(p.rate)}`).join(" ") }));
  }
  if (actual.length) {
    svg.append(node("polyline", { class: "actual", points: actual.map((m) => `${x(m.month)},${y(m.rate)}`).join(" ") }));
    const end = actual[actual.length - 1];
    svg.append(node("circle", { class: "dot", cx: x(end.month), cy: y(end.rate), r: 5 }));
  }
}

function drawKpi(kpi) {
  const rate = el("kpi-rate");
  rate.textContent = pct(kpi.national.rate);
  rate.dataset.value = kpi.national.rate ?? "";
  el("kpi-active").textContent = kpi.national.suppressed ? t("withheld") : num(kpi.national.active);
  el("kpi-active").dataset.value = kpi.national.active ?? "";
  el("kpi-population").textContent = num(kpi.national.population);
  el("kpi-target").textContent = t("targetValue");
  const g = kpi.trajectory.monthly_growth_needed;
  el("kpi-growth").textContent = kpi.trajectory.on_track ? t("onTrack") : g === null ? "—" : pct(g, 2);
  el("kpi-value").textContent = kpi.hours.suppressed ? t("withheld") : `${num(kpi.hours.economic_value)} ${t("qar")}`;
  drawTrajectory(kpi);
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
  svg.replaceChildren();
  const W = 360, H = 120, B = 18, gap = 2;
  const top = Math.max(1, ...activity.buckets.map((b) => b.check_ins ?? 0));
  const w = W / activity.buckets.length - gap;
  activity.buckets.forEach((b, i) => {
    const h = ((b.check_ins ?? 0) / top) * (H - B - 14);
    const cls = b.suppressed ? "bar withheld" : "bar";
    svg.append(node("rect", { class: cls, x: i * (w + gap), y: H - B - h, width: w, height: Math.max(h, 1), "data-suppressed": String(b.suppressed) }));
    if (i % 6 === 0) svg.append(node("text", { x: i * (w + gap), y: H - 4 }, new Date(b.start).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" })));
  });
}

function drawFreshness(doc) {
  el("freshness").replaceChildren(...doc.projections.map((p) => {
    const age = p.seconds_since_applied;
    const state = p.status !== "ok" ? "stale" : p.lag === 0 ? "ok" : p.lag !== null && p.lag < 1000 ? "slow" : "stale";
    const li = node("li", { "data-testid": `freshness-${p.name}`, "data-lag": p.lag ?? "", "data-state": state });
    li.append(node("span", { class: `light ${state}` }));
    const detail = p.status !== "ok" ? t("missing")
      : `${t("lag")} ${num(p.lag)} · ${num(p.events_applied)} ${t("events")} · ${age === null ? t("never") : `${num(age, 0)} ${t("ago")}`}`;
    li.append(node("strong", {}, t("projections")[p.name] ?? p.name), node("span", {}, detail));
    return li;
  }));
}

function draw() {
  if (last.kpi) drawKpi(last.kpi);
  if (last.campaigns) drawCampaigns(last.campaigns);
  if (last.activity) drawLive(last.activity);
  if (last.projections) drawFreshness(last.projections);
  if (last.at) el("refreshed").textContent = last.at.toLocaleTimeString(locale());
}

async function refresh() {
  const [kpi, campaigns, activity, projections] = await Promise.allSettled([
    getJson("/v1/kpi/participation"),
    getJson("/v1/campaigns?status=active&sort=-fill_rate&limit=10"),
    getJson("/v1/activity/recent"),
    getJson("/v1/projections"),
  ]);
  for (const [key, result] of Object.entries({ kpi, campaigns, activity, projections })) {
    if (result.status === "fulfilled") last[key] = result.value;
    else console.warn(result.reason);
  }
  last.at = new Date();
  draw();
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
}

el("lang").addEventListener("click", () => {
  lang = lang === "ar" ? "en" : "ar";
  localStorage.setItem("tatawwu.lang", lang);
  applyLanguage();
});

async function loop() {
  try {
    await refresh();
  } finally {
    setTimeout(loop, REFRESH_MS);  // after each refresh ends: slow answers never pile up
  }
}

applyLanguage();
loop();
