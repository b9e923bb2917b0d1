// Read an iCalendar feed (a file path, or stdin) with ical.js, as Thunderbird does, and print
// one JSON line per VEVENT: its UID and the UTC instants ical.js reads for DTSTART and DTEND.
// The times are resolved against the feed's own VTIMEZONEs (Component#getTimeZoneByID);
// a TZID the feed does not describe is reported instead of guessed.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2] ?? 0, "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));

function instant(event, name) {
  const prop = event.getFirstProperty(name);
  const tzid = prop.getParameter("tzid");
  if (tzid && !calendar.getTimeZoneByID(tzid)) {
    throw new Error(`${name} names TZID ${tzid}, which the feed does not describe`);
  }
  const value = prop.getFirstValue();
  if (value.zone === ICAL.Timezone.localTimezone && !tzid) {
    throw new Error(`${name} is a floating time: ${value.toString()}`);
  }
  return new Date(value.toUnixTime() * 1000).toISOString();
}

for (const event of calendar.getAllSubcomponents("vevent")) {
  console.log(JSON.stringify({
    uid: event.getFirstPropertyValue("uid"),
    start: instant(event, "dtstart"),
    end: instant(event, "dtend"),
  }));
}
