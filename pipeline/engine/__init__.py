"""The embedded Elasticsearch node: fetched from Maven Central, started, stopped and probed.

``local`` is the contract (start/stop/status/connection); ``prereqs`` finds the JDK and
Maven; ``distribution`` downloads and unpacks; ``account`` decides who runs the node.
"""
