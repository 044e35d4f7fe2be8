"""Everything that talks to Elasticsearch. No other package in Chancery imports ``elasticsearch``.

- ``client``: ``connect(settings)``, ``EngineUnavailable``, ``check_available``;
- ``mapping``: pure index names, mappings, the composable template and the analysis decision;
- ``setup``: ``setup_index`` (template, versioned index, aliases) and client-side ``reindex``;
- ``bulk``: ``article_action`` and ``index_articles`` with dead letters;
- ``search``: ``SearchQuery``, ``build_query`` and ``search``;
- ``runs``: ``store_run_report`` into the run-report index;
- ``baseline``: the bare ``streaming_bulk`` loop ``bench/index_throughput.py`` compares against.

See docs/index.md for the index design, the analysis decision and the search syntax.
"""
