"""Worker processes for real: the same output as one process, a killed worker loses nothing, a page that
kills two workers is dead-lettered, a setup error stops the run, the parent holds a bounded window."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sample_pages import CRASH_MARKER, crash_on_marker, page

from pipeline import workers as pool_module
from pipeline.config import Settings, load_settings
from pipeline.enrich import ModelMissing
from pipeline.extract import dedup
from pipeline.gate import Scopes
from pipeline.models import Article, RawPage
from pipeline.outcomes import Outcome, StageResult, Tally
from pipeline.process import Input, process
from pipeline.sources import Scope
from pipeline.state.sqlite import deadletter_file

pytestmark = pytest.mark.slow

GATED = Scopes({"desk": Scope.DIPLOMACY}, default=Scope.ALL)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"home": str(tmp_path / "home")})


def _inputs(n: int) -> list[Input]:
    """Diplomacy and sport pages, half of a gated source; a rejected record; a rewrite of page 0."""
    items: list[Input] = []
    for i in range(n):
        items.append(page(i, diplomacy=i % 3 != 0, source="desk" if i % 2 else None))
    items.insert(5, StageResult(Outcome.BAD_RECORD, reason="truncated record", url="warc:record-5"))
    original = items[0]
    assert isinstance(original, RawPage)
    rewrite = original.content.replace(b"paragraph 0", b"paragraph zero")
    items.append(RawPage(url="https://www.otherwire.test/sport/story-0", content=rewrite,
                         fetched_at=original.fetched_at))
    return items


def _worker_pids() -> list[int]:
    me = psutil.Process()
    return [c.pid for c in me.children() if any("spawn_main" in part for part in c.cmdline())]


def _comparable(article: Article) -> dict[str, object]:
    return article.to_dict()


def test_workers_give_the_output_of_one_process(settings: Settings) -> None:
    inputs = _inputs(24)
    alone, pooled = Tally(), Tally()
    expected = list(process(inputs, settings, alone, scopes=GATED))
    got = list(process(inputs, settings, pooled, workers=2, scopes=GATED))
    assert [_comparable(a) for a in got] == [_comparable(a) for a in expected]  # same articles, order, story ids
    assert pooled.as_dict() == alone.as_dict()
    assert pooled.counts["out_of_scope"] == 4 and pooled.counts["bad_record"] == 1  # sport pages of the gated source
    rewrite = next(a for a in got if "otherwire" in a.url)
    assert rewrite.story_id == next(a for a in got if a.url.endswith("/sport/story-0")).id


def test_a_killed_worker_loses_only_its_pages_which_a_fresh_worker_finishes(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = _inputs(70)
    killed: list[int] = []

    def reading() -> Iterator[Input]:
        for n, item in enumerate(inputs):
            if n == 50:  # workers have answered by now (the parent reads on only as results come back)
                victim = _worker_pids()[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
            yield item

    tally = Tally()
    finished: list[str] = []
    with caplog.at_level(logging.INFO):
        articles = list(process(reading(), settings, tally, workers=2, scopes=GATED,
                                on_finished=lambda f: finished.append(f.url)))
    (death,) = [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "worker_died"]
    assert death["pid"] == killed[0] and death["reason"] == "killed by SIGKILL"
    assert sorted(finished) == sorted(i.url for i in inputs)  # every input exactly once
    assert "worker_died" not in tally.counts  # a retry in a fresh worker finished every page the dead one held
    pages = [i for i in inputs if isinstance(i, RawPage)]
    assert tally.counts["processed"] == len(articles) == len(pages) - tally.counts["out_of_scope"]
    assert tally.counts["out_of_scope"] == 12
    assert not _worker_pids()  # the pool stopped its workers


def test_a_page_that_kills_its_worker_twice_is_dead_lettered_and_the_run_goes_on(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    inputs: list[Input] = [page(i) for i in range(12)]
    inputs[4] = page(4, marker=CRASH_MARKER)
    tally = Tally()
    with caplog.at_level(logging.INFO):
        articles = list(process(inputs, settings, tally, workers=2, page_hook=crash_on_marker))
    assert tally.counts["worker_died"] == 1 and tally.counts["processed"] == 11 == len(articles)
    assert "the worker died twice on this page (killed by SIGABRT)" in tally.reasons["worker_died"]
    assert tally.by_source["harbourpost.test"]["worker_died"] == 1
    deaths = [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "worker_died"]
    assert len(deaths) == 2  # the worker that held it with others, then the fresh one that retried it alone
    assert deaths[1]["pages_held"] == 1 and deaths[0]["pages_held"] >= 1
    (letter,) = [json.loads(line) for line in deadletter_file(settings).read_text().splitlines()]
    assert letter["url"] == page(4).url and letter["error_type"] == "worker_died" and letter["document"] is None


def test_a_setup_error_in_a_worker_stops_the_run_as_itself(settings: Settings, tmp_path: Path) -> None:
    broken = load_settings(environ={}, overrides={"home": str(tmp_path / "home"), "enrich.model": str(tmp_path)})
    with pytest.raises(ModelMissing, match="neither a model directory nor an installed package"):
        list(process([page(1), page(2)], broken, Tally(), workers=2))
    assert not _worker_pids()


def test_the_parent_holds_a_bounded_window_of_inputs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup, "STORY_CHUNK", 8)
    monkeypatch.setattr(pool_module, "PAGES_PER_WORKER", 2)
    monkeypatch.setattr(pool_module, "WINDOW_PER_WORKER", 4)
    pulled = 0
    ahead: list[int] = []

    def reading() -> Iterator[Input]:
        nonlocal pulled
        for n in range(60):
            pulled += 1
            yield page(n)

    out = 0
    for _ in process(reading(), settings, Tally(), workers=2):
        out += 1
        ahead.append(pulled - out)
    assert out == 60
    assert max(ahead) <= 8 + 2 * 4  # a story-id chunk, and the window of two workers


def test_the_dags_import_nothing_heavy_at_parse_time() -> None:
    dags = Path(__file__).resolve().parents[2] / "dags"
    heavy = ["spacy", "trafilatura", "lxml", "numpy", "ahocorasick", "elasticsearch", "sklearn", "pipeline.gate",
             "pipeline.process", "pipeline.workers"]
    code = (f"import sys; sys.path.insert(0, {str(dags)!r}); import process_captures, nightly_ingest, "
            f"backfill_archive, event_ingest; print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == ""


def _cli_pages(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        raw = page(n)
        (folder / f"story-{n}.html").write_bytes(raw.content)
        (folder / f"story-{n}.json").write_text(json.dumps({"url": raw.url}), encoding="utf-8")
    return folder


def _cli(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHANCERY_HOME": str(tmp_path / "home")}
    # stderr to a file, not a pipe: nobody reads it while the command runs, and a full pipe would stall it
    with (tmp_path / "stderr.log").open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
                                 *args], env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def _workers_of(pid: int, timeout: float = 120.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in psutil.Process(pid).children() if any("spawn_main" in p for p in c.cmdline())]
        if len(found) == 2:
            return found
        time.sleep(0.1)
    raise AssertionError("the command never started its two workers")


def test_ctrl_c_stops_the_command_and_its_workers(tmp_path: Path) -> None:
    command = _cli(tmp_path, "process", str(_cli_pages(tmp_path / "pages", 300)), "-o", str(tmp_path / "out.jsonl"),
                   "--workers", "2")
    workers = _workers_of(command.pid)
    time.sleep(2.0)
    command.send_signal(signal.SIGINT)  # the parent only: workers ignore Ctrl-C and are stopped by it
    assert command.wait(timeout=60) == 130
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive
    assert not (tmp_path / "out.jsonl").exists()  # a half-written batch never looks finished


def test_workers_of_a_killed_command_end_on_their_own(tmp_path: Path) -> None:
    command = _cli(tmp_path, "process", str(_cli_pages(tmp_path / "pages", 300)), "-o", str(tmp_path / "out.jsonl"),
                   "--workers", "2")
    workers = _workers_of(command.pid)
    command.kill()  # kill -9: the parent cannot stop them; their pipe closes, and they end after the batch in hand
    command.wait(timeout=30)
    _, alive = psutil.wait_procs(workers, timeout=60)
    assert not alive


# The parent program's main script, run as it is in an Airflow 3 task: importing it anywhere but as the
# program itself fails (there, the `airflow` script fails in a task's environment, which forbids the
# metadata database), so a worker that ran it again would die while starting.
_PARENT_PROGRAM = """
if __name__ != "__main__":
    raise RuntimeError("the parent's main script ran again in a worker")
import json, sys
sys.path.insert(0, sys.argv[1])
from sample_pages import page
from pipeline.config import load_settings
from pipeline.outcomes import Tally
from pipeline.process import process
settings = load_settings(environ={}, overrides={"home": sys.argv[2]})
tally = Tally()
articles = list(process([page(i) for i in range(6)], settings, tally, workers=2))
print(json.dumps({"articles": len(articles), "counts": tally.as_dict()}))
"""


def test_workers_start_whatever_program_the_parent_runs(tmp_path: Path) -> None:
    program = tmp_path / "parent_program.py"
    program.write_text(_PARENT_PROGRAM, encoding="utf-8")
    done = subprocess.run([sys.executable, str(program), str(Path(__file__).parents[1]), str(tmp_path / "home")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["articles"] == 6, result


def _pool_in_a_daemon(settings: Settings, answer: Any) -> None:
    try:
        pool_module.WorkerPool(settings, 1)
    except pool_module.DaemonicParent as exc:
        answer.put(f"DaemonicParent: {exc}")
    else:
        answer.put("no error")


def test_worker_processes_asked_for_in_a_daemonic_process_are_a_setup_error(settings: Settings) -> None:
    # A Celery prefork pool's child is daemonic; multiprocessing would refuse its first worker with an assert.
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    daemon = context.Process(target=_pool_in_a_daemon, args=(settings, answer), daemon=True)
    daemon.start()
    got = answer.get(timeout=120)
    daemon.join(30)
    assert got.startswith("DaemonicParent:") and "AIRFLOW__CELERY__POOL=solo" in got, got
