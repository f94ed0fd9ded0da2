"""Drives Muster with the pdpyras PagerDuty client, as a monitoring script would.

Usage: pdpyras_client.py URL ROUTING_KEY
Prints one JSON object with the dedup keys the client got back.
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")  # pdpyras warns that it is deprecated upstream

import pdpyras  # noqa: E402

url, key = sys.argv[1], sys.argv[2]

events = pdpyras.EventsAPISession(key)
events.url = url
disk = events.trigger("disk full on db-1", "db-1", dedup_key="disk-db-1", severity="critical", custom_details={"pct": 98})
again = events.trigger("disk full on db-1", "db-1", dedup_key="disk-db-1", severity="critical", custom_details={"pct": 99})
api = events.trigger("api 5xx rate high", "lb-2", severity="error")
events.acknowledge(api)
events.resolve(disk)

changes = pdpyras.ChangeEventsAPISession(key)
changes.url = url
changes.submit("deploy v1.2", source="ci")

rejected = None
try:
    bad = pdpyras.EventsAPISession("ffffffffffffffffffffffffffffffff")
    bad.url = url
    bad.trigger("x", "y")
except pdpyras.PDClientError as e:
    rejected = e.response.status_code if e.response is not None else -1

print(json.dumps({"disk": disk, "again": again, "api": api, "rejected": rejected}))
