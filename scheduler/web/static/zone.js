// Wall-clock time in a clinic's IANA zone, from Intl alone (no library, no offsets guessed).
// Instants are milliseconds since the epoch; a "wall" is {y, m, d, h, mi} in the zone.

const formatters = new Map();

function formatter(zone) {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    });
    formatters.set(zone, f);
  }
  return f;
}

const offsets = new Map();
const QUARTER = 15 * 60000;

/** The zone's UTC offset at an instant, in milliseconds (east positive). In the rules of every
 * tzdb zone for the years a clinic books, offsets change only at quarter hours, so one Intl
 * reading per quarter hour is exact; a day's drawing needs few of them (Intl is the slow part). */
export function offsetAt(ms, zone) {
  const bucket = Math.floor(ms / QUARTER) * QUARTER;
  const key = `${zone} ${bucket}`;
  let off = offsets.get(key);
  if (off === undefined) {
    if (offsets.size > 50000) offsets.clear();
    const w = readWall(bucket, zone);
    off = Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s) - bucket;
    offsets.set(key, off);
  }
  return off;
}

const WEEKDAY_CODES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/** The clinic's wall clock at an instant: {y, m, d, h, mi, s, weekday: "mon"…}. */
export function wall(ms, zone) {
  const t = new Date(ms + offsetAt(ms, zone));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(),
           mi: t.getUTCMinutes(), s: t.getUTCSeconds(), weekday: WEEKDAY_CODES[t.getUTCDay()] };
}

function readWall(ms, zone) {
  const out = {};
  for (const p of formatter(zone).formatToParts(ms)) {
    if (p.type !== "literal") out[p.type] = Number(p.value);
  }
  return { y: out.year, m: out.month, d: out.day, h: out.hour % 24, mi: out.minute, s: out.second };
}

/**
 * The instant a wall-clock time happens in the zone. Twice (clocks back): the first. Never
 * (clocks forward): the instant the clocks jumped past it, as an unchanged clock would read it.
 */
export function instant(y, m, d, h = 0, mi = 0, zone) {
  const guess = Date.UTC(y, m - 1, d, h, mi);
  const candidates = [...new Set([guess - offsetAt(guess, zone),
                                  guess - offsetAt(guess - offsetAt(guess, zone), zone),
                                  guess - offsetAt(guess - 86400000, zone),
                                  guess - offsetAt(guess + 86400000, zone)])].sort((a, b) => a - b);
  for (const t of candidates) {
    const w = wall(t, zone);
    if (w.y === y && w.m === m && w.d === d && w.h === h && w.mi === mi) return t;
  }
  return candidates[candidates.length - 1];
}

/** Dates as "YYYY-MM-DD" strings; arithmetic on the calendar, not on instants. */
export function parseDate(text) {
  const [y, m, d] = text.split("-").map(Number);
  return { y, m, d };
}

export function formatDate({ y, m, d }) {
  return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

export function addDays(text, days) {
  const { y, m, d } = parseDate(text);
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return formatDate({ y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() });
}

/** Monday of the week holding the date. */
export function weekStart(text) {
  const { y, m, d } = parseDate(text);
  const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
  return addDays(text, -((weekday + 6) % 7));
}

/** Today's date at the clinic. */
export function today(zone, now = Date.now()) {
  return formatDate(wall(now, zone));
}

/** The local day as instants: [local midnight, next local midnight); 23 or 25 hours on DST days. */
export function dayBounds(text, zone) {
  const a = parseDate(text);
  const b = parseDate(addDays(text, 1));
  return [instant(a.y, a.m, a.d, 0, 0, zone), instant(b.y, b.m, b.d, 0, 0, zone)];
}

export function hhmm(ms, zone) {
  const w = wall(ms, zone);
  return `${String(w.h).padStart(2, "0")}:${String(w.mi).padStart(2, "0")}`;
}

/** ISO 8601 with the zone's offset at that instant, e.g. 2027-03-14T09:00:00-04:00. */
export function isoWithOffset(ms, zone) {
  const w = wall(ms, zone);
  const off = Math.round(offsetAt(ms, zone) / 60000);
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  const pad = (n) => String(n).padStart(2, "0");
  return `${formatDate(w)}T${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
