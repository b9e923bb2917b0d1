// The front-desk calendar (SPEC 11): a clinic's day or week over the JSON API, in clinic time.
// No framework and no build step: DOM built with textContent only (names are never HTML).
import * as Z from "./zone.js";

const API = document.body.dataset.api;
const KEY_STORE = "regimen.calendar.key";
const ROW_PX = 18; // one 15-minute row
const SLOT_MS = 15 * 60000;
const DAY_MS = 86400000;
const REFRESH_MS = 60000;
const STATUS_WORDS = { held: "held (tentative)", booked: "booked", checked_in: "checked in",
                       completed: "completed", cancelled: "cancelled", no_show: "no-show" };
const SHOWN = ["held", "booked", "checked_in", "completed", "no_show"];
const MOVABLE = ["held", "booked"];
const ACTIONS = [
  { path: "check-in", label: "Check in", from: ["booked"], done: "Checked in" },
  { path: "complete", label: "Complete", from: ["checked_in"], done: "Completed" },
  { path: "no-show", label: "No-show", from: ["booked"], done: "Marked as a no-show" },
  { path: "cancel", label: "Cancel appointment", from: ["held", "booked"], done: "Cancelled",
    confirm: "Cancel this appointment? Its slot is freed at once." },
];
const DAY_FMT = { weekday: "short", day: "numeric", month: "short", year: "numeric" };

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "data") Object.assign(node.dataset, v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const state = {
  key: null, clinics: [], clinic: null, date: null, view: "day", by: "room", wholeDay: false,
  showCancelled: false, rooms: [], staff: [], kinds: new Map(), patients: new Map(),
  appointments: [], selected: null, plan: null, loadToken: 0,
};

// ------------------------------------------------------------------ the API

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${state.key}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method, headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, { error: { message: "The server did not answer; check the network and try again." } });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401) showLogin("The key was not accepted (unknown or revoked); enter it again.");
    throw new ApiError(response.status, data);
  }
  return { data, headers: response.headers };
}

/** Every page of a list (the API pages with X-Pagination). */
async function all(path) {
  const sep = path.includes("?") ? "&" : "?";
  let items = [];
  for (let page = 1; ; page++) {
    const { data, headers } = await api(`${path}${sep}page_size=500&page=${page}`);
    items = items.concat(data);
    const info = JSON.parse(headers.get("X-Pagination") || "{}");
    if (!info.total_pages || page >= info.total_pages) return items;
  }
}

/** An API failure in words: the message, then what its details add (a 409's reasons). */
function explain(exc) {
  const error = exc.body?.error || {};
  const out = el("div", { class: "error" });
  const lead = exc.status === 409 ? "Not done: " : exc.status === 403 ? "Not allowed: " : "Failed: ";
  out.append(el("p", { text: lead + (error.message || exc.message) }));
  const d = error.details || {};
  const items = [];
  for (const b of d.blocking || []) items.push(`blocked by ${b.code.replaceAll("_", " ")}${b.detail ? `: ${b.detail}` : ""}`);
  for (const v of d.violations || []) items.push(typeof v === "string" ? v : v.message || JSON.stringify(v));
  if (d.earliest_start_on) items.push(`earliest start that would work: ${d.earliest_start_on}`);
  for (const [field, msgs] of Object.entries(error.fields || {})) items.push(`${field}: ${[].concat(msgs).join(" ")}`);
  if (items.length) out.append(el("ul", {}, ...items.map((t) => el("li", { text: t }))));
  return out;
}

// ------------------------------------------------------------------ names and times

const zone = () => state.clinic.timezone;
const ms = (iso) => Date.parse(iso);
const kindName = (code) => state.kinds.get(code) || code.replaceAll("_", " ");
const patientName = (id) => state.patients.get(id) || null;

function dayLabel(msValue, withYear = false) {
  const opts = { ...DAY_FMT, timeZone: zone() };
  if (!withYear) delete opts.year;
  return new Intl.DateTimeFormat(undefined, opts).format(msValue);
}

function zoneAbbr(t) {
  const part = new Intl.DateTimeFormat("en-US", { timeZone: zone(), timeZoneName: "short" })
    .formatToParts(t).find((p) => p.type === "timeZoneName");
  return part ? part.value : zone();
}

function span(a) {
  return `${Z.hhmm(ms(a.start), zone())}–${Z.hhmm(ms(a.end), zone())}`;
}

/** Rooms and staff an appointment holds: one entry per resource and span, with a name. */
function allocations(appt) {
  const seen = new Map();
  for (const a of appt.allocations || []) {
    if (a.resource_type !== "room" && a.resource_type !== "staff") continue;
    const key = `${a.resource_type}:${a.resource_id}:${a.start}:${a.end}`;
    if (!seen.has(key)) seen.set(key, { ...a, name: a.name || resourceName(a.resource_type, a.resource_id) });
  }
  return [...seen.values()];
}

function resourceName(type, id) {
  const list = type === "room" ? state.rooms : state.staff;
  const found = list.find((r) => r.id === id);
  return found ? found.name : `${type === "room" ? "Room" : "Staff"} #${id}`;
}

function describe(appt) {
  const who = patientName(appt.patient_id);
  const rooms = allocations(appt).filter((a) => a.resource_type === "room").map((a) => a.name);
  return [span(appt), kindName(appt.session_kind), who, STATUS_WORDS[appt.status] || appt.status,
          appt.overdue_at ? "late: no check-in" : null, rooms.join(", ") || null]
    .filter(Boolean).join(", ");
}

// ------------------------------------------------------------------ loading

async function start() {
  state.clinics = await all("/clinics");
  sessionStorage.setItem(KEY_STORE, state.key);
  $("login").hidden = true;
  $("app").hidden = false;
  if (!state.clinics.length) {
    say("This key sees no clinic.");
    return;
  }
  const select = $("clinic");
  select.replaceChildren(...state.clinics.map((c) => el("option", { value: c.id, text: `${c.name} (${c.timezone})` })));
  const wanted = state.clinics.find((c) => String(c.id) === state.wantedClinic);
  state.clinic = wanted || state.clinics[0];
  select.value = state.clinic.id;
  try {
    state.kinds = new Map((await all("/session-kinds")).map((k) => [k.code, k.name]));
  } catch { /* codes stand in for names */ }
  if (!state.date) state.date = Z.today(zone());
  await loadClinic();
  // Other desks change the calendar too: look again every minute (the line moves with it).
  state.timer ??= setInterval(() => { if (!document.hidden && state.key) refresh({ quiet: true }); }, REFRESH_MS);
}

async function loadClinic() {
  const id = state.clinic.id;
  const [rooms, staff] = await Promise.allSettled([all(`/clinics/${id}/rooms`), all(`/staff?clinic_id=${id}`)]);
  state.rooms = rooms.status === "fulfilled" ? rooms.value : [];
  state.staff = staff.status === "fulfilled" ? staff.value : [];
  await refresh();
}

function range() {
  if (state.view === "week") {
    const first = Z.weekStart(state.date);
    return [first, Z.addDays(first, 7)];
  }
  return [state.date, Z.addDays(state.date, 1)];
}

/** Load the shown days, then draw; the draw is timed from the moment the data is complete. */
async function refresh({ quiet = false } = {}) {
  const token = ++state.loadToken;
  syncControls();
  const [from, to] = range();
  const statuses = state.showCancelled ? [...SHOWN, "cancelled"] : SHOWN;
  $("grid").setAttribute("aria-busy", "true");
  if (!quiet) say("Loading…");
  let appointments;
  try {
    appointments = await all(`/appointments?clinic_id=${state.clinic.id}&start=${from}&end=${to}&status=${statuses.join(",")}`);
    await loadPatientNames(appointments);
  } catch (exc) {
    if (token === state.loadToken) sayNode(explain(exc));
    return;
  }
  if (token !== state.loadToken) return; // a newer view was asked for meanwhile
  state.appointments = appointments;
  performance.clearMarks("calendar-data");
  performance.clearMeasures("calendar-draw");
  performance.mark("calendar-data");
  draw();
  performance.clearMeasures("calendar-build");
  performance.measure("calendar-build", "calendar-data");
  $("grid").setAttribute("aria-busy", "false");
  say(`${appointments.length} appointment${appointments.length === 1 ? "" : "s"} ${state.view === "week" ? "this week" : "this day"} at ${state.clinic.name}.`);
  // Drawn: built, laid out and painted (the task after the next frame).
  requestAnimationFrame(() => setTimeout(() => {
    performance.measure("calendar-draw", "calendar-data");
  }, 0));
}

/** Patient names the key may read (a 404 means it may not: the block shows none). */
async function loadPatientNames(appointments) {
  const missing = [...new Set(appointments.map((a) => a.patient_id))].filter((id) => !state.patients.has(id));
  const queue = [...missing];
  const worker = async () => {
    while (queue.length) {
      const id = queue.shift();
      try { state.patients.set(id, (await api(`/patients/${id}`)).data.name); } catch (exc) {
        if (exc.status === 401) throw exc;
        state.patients.set(id, null);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(6, queue.length) }, worker));
}

// ------------------------------------------------------------------ drawing

function draw() {
  const grid = $("grid");
  const focused = document.activeElement?.dataset?.id;
  grid.replaceChildren(state.view === "week" ? drawWeek() : drawDay());
  if (focused) grid.querySelector(`.appt[data-id="${focused}"]`)?.focus();
  markSelected();
}

/** Opening hours of a weekday as wall-clock minutes [open, close], or null when closed. */
function openingMinutes(weekday) {
  const windows = state.clinic.hours?.[weekday] || [];
  if (!windows.length) return null;
  const mins = (t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
  return [Math.min(...windows.map((w) => mins(w[0]))), Math.max(...windows.map((w) => mins(w[1])))];
}

/** Lay overlapping blocks side by side: each gets a lane and the lane count of its cluster. */
function lanes(items) {
  items.sort((a, b) => a.top - b.top || b.bottom - a.bottom);
  let cluster = [], clusterEnd = -Infinity, laneEnds = [];
  const close = () => { for (const it of cluster) it.lanes = laneEnds.length; cluster = []; laneEnds = []; };
  for (const it of items) {
    if (it.top >= clusterEnd) { close(); clusterEnd = -Infinity; }
    let lane = laneEnds.findIndex((end) => end <= it.top);
    if (lane < 0) { lane = laneEnds.length; laneEnds.push(0); }
    laneEnds[lane] = it.bottom;
    it.lane = lane;
    cluster.push(it);
    clusterEnd = Math.max(clusterEnd, it.bottom);
  }
  close();
  return items;
}

function block(appt, item) {
  const name = patientName(appt.patient_id);
  const button = el("button", {
    type: "button", class: `appt st-${appt.status}${appt.overdue_at ? " overdue" : ""}`,
    "aria-label": describe(appt), data: { id: appt.id, status: appt.status },
    on: { click: () => openDetails(appt.id) },
  },
  el("span", { class: "t", text: span(appt) }),
  el("span", { class: "k", text: kindName(appt.session_kind) }),
  name ? el("span", { class: "p", text: name }) : null,
  el("span", { class: "s", text: appt.overdue_at ? "late" : STATUS_WORDS[appt.status] }));
  const s = button.style;
  const height = Math.max(item.bottom - item.top, 4);
  s.top = `${item.top}px`;
  s.height = `${height}px`;
  if (height < 4 * 15) button.classList.add("short"); // no room for the status line
  s.left = `calc(${(100 * item.lane) / item.lanes}% + 2px)`;
  s.width = `calc(${100 / item.lanes}% - 4px)`;
  return button;
}

function timeColumn(rows) {
  return el("div", { class: "times", "aria-hidden": "true" }, ...rows.map((r) =>
    el("div", { class: `row${r.label.endsWith(":00") ? " hour" : ""}`, data: { time: r.label, iso: r.iso || "" } },
      r.label.endsWith(":00") || r.first ? el("span", { text: r.label }) : null)));
}

function nowLine(top, label) {
  return el("div", { class: "now", "aria-hidden": "true", data: { label } }, el("span", { text: label }));
}

function drawDay() {
  const tz = zone();
  const [dayStart, dayEnd] = Z.dayBounds(state.date, tz);
  const appts = state.appointments.filter((a) => ms(a.start) < dayEnd && ms(a.end) > dayStart);
  // The rows: the whole local day, or the opening hours widened to every appointment.
  let from = dayStart, to = dayEnd;
  if (!state.wholeDay) {
    const d = Z.parseDate(state.date);
    const hours = openingMinutes(Z.wall(dayStart + 12 * 3600000, tz).weekday) || [8 * 60, 18 * 60];
    let startH = Math.floor(hours[0] / 60), endH = Math.ceil(hours[1] / 60);
    from = Z.instant(d.y, d.m, d.d, startH, 0, tz);
    to = endH >= 24 ? dayEnd : Z.instant(d.y, d.m, d.d, endH, 0, tz);
    // Widened to every appointment and to the current time, whole hours from midnight.
    const now = Date.now();
    const moments = appts.flatMap((a) => [ms(a.start), ms(a.end)]);
    if (now >= dayStart && now < dayEnd) moments.push(now, now + 1);
    for (const t of moments) {
      from = Math.min(from, Math.max(dayStart, t - ((t - dayStart) % 3600000)));
      to = Math.max(to, Math.min(dayEnd, t));
    }
    to = Math.min(dayEnd, from + Math.ceil((to - from) / 3600000) * 3600000);
  }
  const rows = [];
  for (let t = from; t < to; t += SLOT_MS) rows.push({ label: Z.hhmm(t, tz), iso: Z.isoWithOffset(t, tz), first: t === from });
  const px = (t) => ((t - from) / SLOT_MS) * ROW_PX;

  const byRoom = state.by === "room";
  const listed = byRoom ? state.rooms : state.staff;
  const columns = listed.map((r) => ({ id: r.id, name: r.name, items: [] }));
  const column = (id, name) => {
    let c = columns.find((x) => x.id === id);
    if (!c) { c = { id, name, items: [] }; columns.push(c); }
    return c;
  };
  for (const a of appts) {
    const held = allocations(a).filter((x) => x.resource_type === state.by);
    if (!held.length) {
      column(null, byRoom ? "No room" : "No staff").items.push({ appt: a, top: px(Math.max(ms(a.start), from)), bottom: px(Math.min(ms(a.end), to)) });
      continue;
    }
    const perResource = new Map();
    for (const x of held) {
      const cur = perResource.get(x.resource_id) || { name: x.name, start: Infinity, end: -Infinity };
      cur.start = Math.min(cur.start, ms(x.start));
      cur.end = Math.max(cur.end, ms(x.end));
      perResource.set(x.resource_id, cur);
    }
    for (const [id, r] of perResource) {
      // A room is held through its turnover: drawn as a hatched tail after the appointment.
      const s = byRoom ? ms(a.start) : r.start;
      const e = byRoom ? ms(a.end) : r.end;
      column(id, r.name).items.push({ appt: a, top: px(Math.max(s, from)), bottom: px(Math.min(e, to)),
                                      tail: byRoom && r.end > e ? px(Math.min(r.end, to)) : null });
    }
  }
  const height = rows.length * ROW_PX;
  const body = el("div", { class: "body" }, timeColumn(rows));
  for (const c of columns) {
    const col = el("section", { class: "col", "aria-label": `${c.name}: ${c.items.length} appointment${c.items.length === 1 ? "" : "s"}`, data: { resource: c.id ?? "none" } });
    col.style.height = `${height}px`;
    for (const item of lanes(c.items)) {
      if (item.tail !== null && item.tail !== undefined) {
        const tail = el("div", { class: "turnover", "aria-hidden": "true", title: "turnover" });
        Object.assign(tail.style, { top: `${item.bottom}px`, height: `${item.tail - item.bottom}px`,
          left: `calc(${(100 * item.lane) / item.lanes}% + 2px)`, width: `calc(${100 / item.lanes}% - 4px)` });
        col.append(tail);
      }
      col.append(block(item.appt, item));
    }
    body.append(col);
  }
  const now = Date.now();
  if (now >= from && now < to) {
    const line = nowLine(px(now), `now ${Z.hhmm(now, tz)}`);
    line.style.top = `${px(now)}px`;
    body.append(line);
  }
  const head = el("div", { class: "head" }, el("div", { class: "corner", text: zoneAbbr(dayStart + 12 * 3600000), title: tz }),
    ...columns.map((c) => el("div", { class: "colhead", text: c.name, title: c.name })));
  const title = `${dayLabel(dayStart + 12 * 3600000, true)} at ${state.clinic.name}, ${byRoom ? "rooms" : "staff"} as columns, clinic time ${tz}`;
  const cal = el("div", { class: "cal day", role: "region", "aria-label": title, data: { hours: String((dayEnd - dayStart) / 3600000) } },
    el("h2", { class: "sr-only", text: title }), head, body);
  cal.style.setProperty("--cols", String(Math.max(columns.length, 1)));
  if (!columns.length) body.append(el("p", { class: "empty", text: "No rooms or staff at this clinic yet." }));
  return cal;
}

function drawWeek() {
  const tz = zone();
  const first = Z.weekStart(state.date);
  const days = Array.from({ length: 7 }, (_, i) => Z.addDays(first, i));
  const todayText = Z.today(tz);
  const bounds = days.map((d) => Z.dayBounds(d, tz));
  // Rows are wall-clock times: 09:00 is 09:00 on every day, DST or not.
  const minute = (t) => { const w = Z.wall(t, tz); return w.h * 60 + w.mi; };
  let fromMin = 24 * 60, toMin = 0;
  if (state.wholeDay) { fromMin = 0; toMin = 24 * 60; } else {
    for (const [s] of bounds) {
      const h = openingMinutes(Z.wall(s + 12 * 3600000, tz).weekday);
      if (h) { fromMin = Math.min(fromMin, h[0]); toMin = Math.max(toMin, h[1]); }
    }
    if (fromMin >= toMin) { fromMin = 8 * 60; toMin = 18 * 60; }
  }
  const items = days.map(() => []);
  for (const a of state.appointments) {
    bounds.forEach(([s, e], i) => {
      if (ms(a.start) >= e || ms(a.end) <= s) return;
      const startMin = ms(a.start) <= s ? 0 : minute(ms(a.start));
      const endMin = startMin + (Math.min(ms(a.end), e) - Math.max(ms(a.start), s)) / 60000;
      if (!state.wholeDay) { fromMin = Math.min(fromMin, startMin); toMin = Math.max(toMin, endMin); }
      items[i].push({ appt: a, startMin, endMin });
    });
  }
  if (!state.wholeDay && days.includes(todayText)) {
    const m = minute(Date.now());
    fromMin = Math.min(fromMin, m);
    toMin = Math.max(toMin, m + 1);
  }
  fromMin = Math.floor(fromMin / 60) * 60;
  toMin = Math.min(24 * 60, Math.ceil(toMin / 60) * 60);
  const rows = [];
  const pad = (n) => String(n).padStart(2, "0");
  for (let m = fromMin; m < toMin; m += 15) rows.push({ label: `${pad(Math.floor(m / 60))}:${pad(m % 60)}`, first: m === fromMin });
  const px = (m) => ((m - fromMin) / 15) * ROW_PX;
  const body = el("div", { class: "body" }, timeColumn(rows));
  const head = el("div", { class: "head" }, el("div", { class: "corner", title: tz,
    text: [...new Set(bounds.map(([s]) => zoneAbbr(s + 12 * 3600000)))].join("/") }));
  days.forEach((d, i) => {
    const label = dayLabel(bounds[i][0] + 12 * 3600000);
    head.append(el("div", { class: `colhead${d === todayText ? " today" : ""}` },
      el("button", { type: "button", class: "daylink", "aria-label": `Open the day ${label}`, text: label,
                     on: { click: () => { state.date = d; state.view = "day"; refresh(); } } })));
    const col = el("section", { class: "col", "aria-label": `${label}: ${items[i].length} appointment${items[i].length === 1 ? "" : "s"}`, data: { date: d } });
    col.style.height = `${rows.length * ROW_PX}px`;
    const positioned = items[i].map((it) => ({ appt: it.appt, top: px(it.startMin), bottom: px(it.endMin) }));
    for (const item of lanes(positioned)) col.append(block(item.appt, item));
    if (d === todayText) {
      const m = minute(Date.now());
      if (m >= fromMin && m < toMin) {
        const line = nowLine(px(m), `now ${Z.hhmm(Date.now(), tz)}`);
        line.style.top = `${px(m)}px`;
        col.append(line);
      }
    }
    body.append(col);
  });
  const title = `Week of ${dayLabel(bounds[0][0] + 12 * 3600000, true)} at ${state.clinic.name}, clinic time ${tz}`;
  const cal = el("div", { class: "cal week", role: "region", "aria-label": title }, el("h2", { class: "sr-only", text: title }), head, body);
  cal.style.setProperty("--cols", "7");
  return cal;
}

// ------------------------------------------------------------------ details, plan, actions

function markSelected() {
  for (const b of document.querySelectorAll(".appt[aria-current]")) b.removeAttribute("aria-current");
  if (state.selected) for (const b of document.querySelectorAll(`.appt[data-id="${state.selected}"]`)) b.setAttribute("aria-current", "true");
}

async function openDetails(id, { focus = true, keepAnswer = false } = {}) {
  state.selected = id;
  markSelected();
  const panel = $("details");
  if (!keepAnswer) $("answer").replaceChildren();
  let appt;
  try {
    appt = (await api(`/appointments/${id}`)).data;
  } catch (exc) {
    panel.hidden = false;
    $("details-body").replaceChildren(explain(exc));
    return;
  }
  if (!state.patients.has(appt.patient_id)) await loadPatientNames([appt]);
  state.current = appt;
  panel.hidden = false;
  document.body.classList.add("with-details");
  $("details-title").textContent = `${kindName(appt.session_kind)}`;
  const tz = zone();
  const who = patientName(appt.patient_id);
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "Status" }), el("dd", {}, el("span", { class: `badge st-${appt.status}`, text: STATUS_WORDS[appt.status] || appt.status }),
      appt.overdue_at ? el("span", { class: "late", text: " late: still booked after its end" }) : null),
    el("dt", { text: "When" }), el("dd", { text: `${dayLabel(ms(appt.start), true)}, ${span(appt)} (${tz})` }),
    el("dt", { text: "Patient" }), el("dd", { text: who || `#${appt.patient_id} (name not visible to this key)` }),
    appt.key ? el("dt", { text: "In the plan" }) : null, appt.key ? el("dd", { text: appt.key }) : null);
  const allocs = allocations(appt);
  const allocList = el("ul", { class: "allocs" }, ...allocs.map((a) => el("li", {},
    el("span", { class: "rtype", text: a.resource_type === "room" ? "Room" : "Staff" }), ` ${a.name}, ${Z.hhmm(ms(a.start), tz)}–${Z.hhmm(ms(a.end), tz)}`)));
  $("details-body").replaceChildren(facts, el("h3", { text: "Allocations" }),
    allocs.length ? allocList : el("p", { text: "No room or staff held." }));
  drawActions(appt);
  if (focus) $("details-title").focus();
  await drawPlan(appt);
}

function drawActions(appt) {
  const box = $("actions");
  const possible = ACTIONS.filter((a) => a.from.includes(appt.status));
  box.replaceChildren(...possible.map((action) => el("button", {
    type: "button", data: { action: action.path },
    on: { click: () => (action.confirm ? askFirst(action, appt) : act(action, appt)) },
  }, action.label)));
  if (!possible.length) box.append(el("p", { class: "help", text: `A ${STATUS_WORDS[appt.status]} appointment has no further steps.` }));
  const form = $("reschedule-form");
  form.hidden = !MOVABLE.includes(appt.status);
  const w = Z.wall(ms(appt.start) + DAY_MS, zone());
  const pad = (n) => String(n).padStart(2, "0");
  $("not-before").value = `${Z.formatDate(w)}T${pad(w.h)}:${pad(w.mi)}`;
}

function askFirst(action, appt) {
  const box = $("actions");
  const yes = el("button", { type: "button", class: "danger", data: { action: `${action.path}-confirm` }, on: { click: () => act(action, appt) } }, "Yes, cancel it");
  const no = el("button", { type: "button", on: { click: () => drawActions(appt) } }, "Keep it");
  box.replaceChildren(el("p", { text: action.confirm }), yes, no);
  yes.focus();
}

async function act(action, appt) {
  const answer = $("answer");
  answer.replaceChildren(el("p", { text: `${action.label}…` }));
  try {
    const { data } = await api(`/appointments/${appt.id}/${action.path}`, { method: "POST" });
    const out = [el("p", { class: "ok", text: `${action.done}: ${kindName(data.session_kind)}${patientName(data.patient_id) ? ` for ${patientName(data.patient_id)}` : ""}, ${dayLabel(ms(data.start))} ${span(data)}.` })];
    if (action.path === "cancel") {
      const warnings = data.plan_warnings || [];
      out.push(warnings.length
        ? el("div", { class: "warn" }, el("p", { text: "The rest of the plan now breaks these rules; move those sessions:" }),
            el("ul", {}, ...warnings.map((w) => el("li", { text: `${w.message}${w.appointment_ids?.length ? ` (appointments ${w.appointment_ids.join(", ")})` : ""}` }))))
        : el("p", { text: "The rest of the plan still keeps its rules." }));
    }
    answer.replaceChildren(...out);
  } catch (exc) {
    answer.replaceChildren(explain(exc));
  }
  await afterAction(appt.id);
}

async function reschedule(event) {
  event.preventDefault();
  const appt = state.current;
  const value = $("not-before").value; // "YYYY-MM-DDTHH:MM", clinic time
  if (!appt || !value) return;
  const [date, time] = value.split("T");
  const d = Z.parseDate(date);
  const [h, mi] = time.split(":").map(Number);
  const notBefore = Z.isoWithOffset(Z.instant(d.y, d.m, d.d, h, mi, zone()), zone());
  const before = new Map((state.plan?.appointments || []).map((a) => [a.id, a]));
  before.set(appt.id, appt);
  const answer = $("answer");
  answer.replaceChildren(el("p", { text: "Rescheduling…" }));
  let target = appt;
  try {
    const { data } = await api(`/appointments/${appt.id}/reschedule`, { method: "POST", body: { not_before: notBefore } });
    const moved = data.moved || [];
    if (!moved.length) {
      answer.replaceChildren(el("p", { text: "Nothing moved: it already is the earliest time after that moment." }));
    } else {
      const line = (m) => {
        const old = before.get(m.id);
        const was = old ? `${dayLabel(ms(old.start))} ${Z.hhmm(ms(old.start), zone())}` : "?";
        return el("li", { text: `${m.key || kindName(m.session_kind)}: ${was} → ${dayLabel(ms(m.start))} ${Z.hhmm(ms(m.start), zone())}` });
      };
      answer.replaceChildren(el("p", { class: "ok", text: `Moved ${moved.length} session${moved.length === 1 ? "" : "s"}:` }),
        el("ul", { class: "moved" }, ...moved.map(line)));
      target = moved.find((m) => m.id === appt.id) || appt;
    }
  } catch (exc) {
    answer.replaceChildren(explain(exc));
  }
  // Follow the appointment to its new day.
  const newDate = Z.today(zone(), ms(target.start));
  const [from, to] = range();
  if (newDate < from || newDate >= to) state.date = newDate;
  await afterAction(appt.id);
}

async function afterAction(id) {
  await refresh({ quiet: true });
  await openDetails(id, { focus: false, keepAnswer: true });
  $("answer").focus();
}

async function drawPlan(appt) {
  const box = $("plan");
  state.plan = null;
  if (!appt.enrollment_id) {
    box.replaceChildren(el("p", { text: "Not part of a treatment plan." }));
    return;
  }
  let enrollment;
  try {
    enrollment = (await api(`/enrollments/${appt.enrollment_id}`)).data;
  } catch (exc) {
    box.replaceChildren(explain(exc));
    return;
  }
  if (state.current?.id !== appt.id) return;
  state.plan = enrollment;
  const tz = zone();
  const sessions = [...enrollment.appointments].sort((a, b) => ms(a.start) - ms(b.start) || a.id - b.id);
  const now = Date.now();
  const thisYear = Z.wall(now, tz).y;
  const protocol = await protocolName(enrollment.protocol_id);
  if (state.current?.id !== appt.id) return;
  const rows = sessions.map((s, i) => el("tr", { class: `${s.id === appt.id ? "current" : ""}${ms(s.end) <= now ? " past" : ""}`, "aria-current": s.id === appt.id ? "true" : null },
    el("td", { text: String(i + 1) }),
    el("td", {}, el("span", { class: "key", text: s.key || s.phase || "" }), el("br"), kindName(s.session_kind)),
    el("td", {}, el("button", { type: "button", class: "link", "aria-label": `Show ${s.key || kindName(s.session_kind)} on ${dayLabel(ms(s.start), true)}`,
      on: { click: () => showAppointment(s) } }, `${dayLabel(ms(s.start), Z.wall(ms(s.start), tz).y !== thisYear)} ${Z.hhmm(ms(s.start), tz)}`)),
    el("td", {}, el("span", { class: `badge st-${s.status}`, text: STATUS_WORDS[s.status] || s.status }))));
  box.replaceChildren(
    el("p", { text: `${protocol} (version ${enrollment.protocol_version}), enrollment #${enrollment.id}, ${enrollment.status}, from ${enrollment.start_on}: ${sessions.length} sessions.` }),
    el("table", { class: "plan" },
      el("caption", { class: "sr-only", text: "Every session of the plan, past and future" }),
      el("thead", {}, el("tr", {}, ...["#", "Session", "When (clinic time)", "Status"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows)));
}

const protocols = new Map();

async function protocolName(id) {
  if (!protocols.has(id)) {
    try { protocols.set(id, (await api(`/protocols/${id}`)).data.name); } catch { protocols.set(id, `Protocol #${id}`); }
  }
  return protocols.get(id);
}

async function showAppointment(s) {
  state.date = Z.today(zone(), ms(s.start));
  if (s.status === "cancelled" && !state.showCancelled) state.showCancelled = true;
  await refresh();
  await openDetails(s.id);
}

function closeDetails() {
  const id = state.selected;
  state.selected = null;
  state.current = null;
  $("details").hidden = true;
  document.body.classList.remove("with-details");
  markSelected();
  document.querySelector(`.appt[data-id="${id}"]`)?.focus();
}

// ------------------------------------------------------------------ controls

function say(text) { $("status").textContent = text; }
function sayNode(node) { $("status").replaceChildren(node); }

function syncControls() {
  $("date").value = state.date;
  for (const r of document.querySelectorAll('input[name="view"]')) r.checked = r.value === state.view;
  for (const r of document.querySelectorAll('input[name="by"]')) r.checked = r.value === state.by;
  $("by-group").hidden = state.view === "week";
  $("whole-day").checked = state.wholeDay;
  $("show-cancelled").checked = state.showCancelled;
  const unit = state.view === "week" ? "week" : "day";
  $("prev").setAttribute("aria-label", `Previous ${unit}`);
  $("next").setAttribute("aria-label", `Next ${unit}`);
  const params = new URLSearchParams({ clinic: state.clinic.id, date: state.date, view: state.view, by: state.by });
  if (state.wholeDay) params.set("hours", "24");
  history.replaceState(null, "", `?${params}`);
}

function showLogin(message = "") {
  sessionStorage.removeItem(KEY_STORE);
  state.key = null;
  $("app").hidden = true;
  $("details").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("key").value = "";
  $("key").focus();
}

function wire() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.key = $("key").value.trim();
    $("login-error").textContent = "";
    try { await start(); } catch (exc) {
      if (exc.status !== 401) $("login-error").textContent = explain(exc).textContent;
    }
  });
  $("logout").addEventListener("click", () => showLogin("Key forgotten."));
  $("clinic").addEventListener("change", async (e) => {
    state.clinic = state.clinics.find((c) => String(c.id) === e.target.value);
    closeDetails();
    await loadClinic();
  });
  $("date").addEventListener("change", (e) => { if (e.target.value) { state.date = e.target.value; refresh(); } });
  const step = (sign) => { state.date = Z.addDays(state.date, sign * (state.view === "week" ? 7 : 1)); refresh(); };
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("today").addEventListener("click", () => { state.date = Z.today(zone()); refresh(); });
  for (const r of document.querySelectorAll('input[name="view"]')) r.addEventListener("change", () => { state.view = r.value; refresh(); });
  for (const r of document.querySelectorAll('input[name="by"]')) r.addEventListener("change", () => { state.by = r.value; draw(); syncControls(); });
  $("whole-day").addEventListener("change", (e) => { state.wholeDay = e.target.checked; draw(); syncControls(); });
  $("show-cancelled").addEventListener("change", (e) => { state.showCancelled = e.target.checked; refresh(); });
  $("close-details").addEventListener("click", closeDetails);
  $("reschedule-form").addEventListener("submit", reschedule);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("details").hidden) closeDetails(); });
}

function init() {
  wire();
  const params = new URLSearchParams(location.search);
  state.wantedClinic = params.get("clinic");
  if (/^\d{4}-\d{2}-\d{2}$/.test(params.get("date") || "")) state.date = params.get("date");
  if (params.get("view") === "week") state.view = "week";
  if (params.get("by") === "staff") state.by = "staff";
  state.wholeDay = params.get("hours") === "24";
  state.key = sessionStorage.getItem(KEY_STORE);
  if (state.key) start().catch((exc) => { if (exc.status !== 401) showLogin(explain(exc).textContent); });
  else showLogin();
}

init();
