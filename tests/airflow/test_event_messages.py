"""Event messages: Redis payloads and REST extras → the URLs and sources to ingest."""

from __future__ import annotations

import json
import pickle

import pytest

from pipeline.orchestrate.messages import BadMessage, EventRequest, parse_message, request_from_events


def test_json_and_plain_text() -> None:
    assert parse_message('{"urls": ["https://a.example/x", "https://a.example/x"], "source": "un-news"}') == \
        EventRequest(urls=("https://a.example/x",), sources=("un-news",))
    assert parse_message("https://a.example/1  source:reuters\nhttps://b.example/2") == \
        EventRequest(urls=("https://a.example/1", "https://b.example/2"), sources=("reuters",))
    assert parse_message(b'{"url": "http://127.0.0.1:8000/a"}').urls == ("http://127.0.0.1:8000/a",)


@pytest.mark.parametrize("text, reason", [
    ("", "empty message"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be an object"),
    ('["https://a.example/"]', "must be an object"),
    ("ftp://a.example/x javascript:alert(1)", "names no http"),
    ('{"urls": []}', "names no http"),
])
def test_bad_messages_name_why(text: str, reason: str) -> None:
    with pytest.raises(BadMessage) as err:
        parse_message(text)
    assert reason in err.value.reason
    again = pickle.loads(pickle.dumps(err.value))
    assert again.reason == err.value.reason and again.text == err.value.text


def test_events_from_the_watcher_and_from_rest_merge() -> None:
    watcher = {"from_trigger": True, "payload": {"type": "message", "channel": "chancery.incoming",
                                                 "data": json.dumps({"urls": ["https://a.example/1"]})}}
    rest = {"urls": ["https://b.example/2", "https://a.example/1"], "from_rest_api": True}
    poll = {"from_trigger": True, "payload": {"data": "source:gazette-world-rss"}}
    junk = {"from_trigger": True, "payload": {"data": "hello"}}
    request = request_from_events([watcher, rest, poll, junk, None])
    assert request.urls == ("https://a.example/1", "https://b.example/2")
    assert request.sources == ("gazette-world-rss",)
    assert len(request.rejected) == 2  # "hello" and the empty extra
    assert not request.empty
