"""The demo newsroom: diplomacy articles written for this project, served on loopback.

``catalog`` loads the article data (one YAML file per article under ``articles/``),
``render`` turns it into HTML pages, an RSS feed, sitemaps and robots.txt, and
``newsroom`` serves them over HTTP for ``chancery demo``, the tests and the DAGs.
"""
