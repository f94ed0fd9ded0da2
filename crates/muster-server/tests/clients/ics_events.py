"""Reads iCalendar feeds with the `icalendar` parser, as a calendar app would.

Usage: ics_events.py FILE...
Prints one JSON object: for each file, the calendar's name and its events
(uid, start, end, summary, dtstamp, sequence), in the feed's order. Fails
(non-zero) if a feed does not parse, or an event lacks a property RFC 5545
requires.
"""
import json
import sys

import icalendar

out = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        cal = icalendar.Calendar.from_ical(f.read())
    assert cal.name == "VCALENDAR", cal.name
    assert str(cal["VERSION"]) == "2.0" and cal.get("PRODID"), "VERSION and PRODID are required"
    events = []
    for e in cal.walk("VEVENT"):
        for required in ("UID", "DTSTAMP", "DTSTART"):
            assert e.get(required) is not None, f"an event without {required}"
        events.append({
            "uid": str(e["UID"]),
            "start": e.decoded("DTSTART").isoformat(),
            "end": e.decoded("DTEND").isoformat(),
            "summary": str(e["SUMMARY"]),
            "dtstamp": e.decoded("DTSTAMP").isoformat(),
            "sequence": int(e["SEQUENCE"]),
        })
    out.append({"name": str(cal["X-WR-CALNAME"]), "events": events})
json.dump(out, sys.stdout)
