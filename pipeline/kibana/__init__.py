"""Kibana: the saved objects Chancery ships, their offline check, and the import/export client.

- ``saved_objects.ndjson``: the data views, saved searches (Discover sessions) and dashboards, with
  fixed ids, in the format Kibana's Saved Objects export writes (see docs/kibana.md).
- ``objects``: load them, check them against the index mappings offline, point them at the
  configured index names, and normalise an export for committing.
- ``kql``: the small part of KQL the objects use, parsed to name its fields and to build the
  Elasticsearch query a panel runs (the check and the tests use it).
- ``api``: the Saved Objects import and export API (basic auth or API key, spaces).
"""
