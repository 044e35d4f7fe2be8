"""Worker processes for the batch: every core extracts, gates and enriches while the parent indexes.

    parent:  read inputs ──> dispatch ──────────────> collect, in input order ──> story ids ──> index
    workers:                  extract ─> gate ─> enrich (``pipeline.process.work_batch``)

Each worker is a fresh interpreter (``spawn``: nothing of the parent's threads, sockets or SQLite
handles is inherited) that loads the NER model, the gazetteers and the gate's automaton once, then
works on batches of the pages it holds. Memory stays flat whatever the input size: a worker holds
at most ``PAGES_PER_WORKER`` pages, and the parent at most ``WINDOW_PER_WORKER`` inputs per worker
between the oldest unfinished one and the newest read (results wait there to leave in input order,
so story ids and output are exactly those of one process).

Every input ends in exactly one result. A worker that dies (killed by the OOM killer, a crash in a
C extension) loses only the pages it held: they go, one at a time, to the fresh worker started in
its place; a page that kills that one too ends as ``Outcome.WORKER_DIED`` with the reason, is
dead-lettered (``chancery deadletters list``), and the run goes on. A setup error in a worker (a
missing model, a malformed data file) or a bug stops the run, with the worker's traceback, as it
would in one process.

Pipes, not queues: one pair per worker, so a worker killed mid-write can corrupt nothing but its
own pipe, which goes with it. Inside a worker a reader thread takes pages off the pipe as they
come and a sender thread writes results, so neither side ever blocks on a full pipe while the
other is busy (the parent in an indexing request, the worker in the model).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from pipeline.config import Settings
from pipeline.logs import get_logger, log_event
from pipeline.models import RawPage
from pipeline.outcomes import Outcome

log = get_logger("workers")

# Pages queued to one worker: enough to keep it busy through an indexing request of about a second
# (at ~15 pages/s), few enough that a dead worker loses little and the parent holds little.
PAGES_PER_WORKER = 16
# Inputs per worker between the oldest unfinished and the newest read: a slow page holds back the
# output (which keeps input order) only once this many later ones are done.
WINDOW_PER_WORKER = 64
# A worker that dies before it is ready this many times in a row is not a bad page: the run stops.
MAX_START_FAILURES = 3
# How long a stopping worker may take to finish before it is terminated.
STOP_TIMEOUT_S = 10.0
START_METHOD = "spawn"

PageHook = Callable[[RawPage], None]


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a child that does not run the parent's ``__main__`` again.

    ``spawn`` re-imports the parent's main script in every child (as ``__mp_main__``), and the parent
    may be any program: in an Airflow 3 task it is the ``airflow`` script, whose import fails there (a
    task's environment forbids the metadata database), so every worker died while starting. A worker
    needs none of it: its code and arguments live in ``pipeline`` and pickle by module name. Without
    ``__spec__`` and ``__file__`` on ``__main__``, multiprocessing leaves the child's main alone.
    """
    main = sys.modules["__main__"]
    missing = object()
    with _MAIN_LOCK:
        saved = {name: main.__dict__.get(name, missing) for name in ("__spec__", "__file__")}
        main.__spec__ = None
        main.__dict__.pop("__file__", None)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is missing:
                    main.__dict__.pop(name, None)
                else:
                    main.__dict__[name] = value


class WorkerError(RuntimeError):
    """A worker raised (a bug, or a setup error that could not be sent as itself); carries its traceback."""


class DaemonicParent(RuntimeError):
    """Worker processes asked for in a daemonic process, which may not have children: a setup error."""


def worker_count(configured: int) -> int:
    """``process.workers``: 0 is one per core this process may run on."""
    if configured > 0:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class Job:
    """One page on its way through a worker; ``deaths`` counts the workers that died holding it."""

    seq: int
    page: RawPage
    gated: bool
    deaths: int = 0


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process (SpawnProcess)
    tasks: Connection
    results: Connection
    held: dict[int, Job] = field(default_factory=dict)
    retries: deque[Job] = field(default_factory=deque)  # pages a dead worker held: one at a time, alone
    ready: bool = False

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    @property
    def isolated(self) -> bool:
        """Retrying a dead worker's pages: it takes nothing else, so a page that kills it again dies alone."""
        return bool(self.retries) or any(job.deaths for job in self.held.values())


class WorkerPool:
    """``size`` worker processes over one stream of jobs; ``run`` yields (seq, result) in seq order.

    ``page_hook`` runs in the worker on every page before it is processed: tests crash a worker
    with it (``os.abort`` on a marked page). Production passes none.
    """

    def __init__(self, settings: Settings, size: int, page_hook: PageHook | None = None) -> None:
        if multiprocessing.current_process().daemon:
            # A task forked from a Celery prefork pool's child is one: the worker serving the process
            # queue runs its one task at a time with the solo pool (docker-compose.yml).
            raise DaemonicParent(
                "process.workers needs child processes, and this process is daemonic (a Celery prefork "
                "pool's child?): run the Celery worker of the process queue with AIRFLOW__CELERY__POOL=solo")
        self.settings = settings
        self.size = max(1, size)
        self.page_hook = page_hook
        self.context: Any = multiprocessing.get_context(START_METHOD)
        self.workers: list[_Worker] = []
        self.deaths = 0
        self.start_failures = 0
        self.peak_rss: dict[int, int] = {}  # worker pid -> peak RSS in bytes, as reported by the worker

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self) -> _Worker:
        task_read, task_write = self.context.Pipe(duplex=False)
        result_read, result_write = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=worker_main, args=(self.settings, task_read, result_write, self.page_hook),
            name="chancery-worker", daemon=True,
        )
        with _main_module_hidden():
            process.start()
        task_read.close()  # the worker's ends: a dead worker then means EOF here, never a hang
        result_write.close()
        worker = _Worker(process, task_write, result_read)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.tasks.send(None)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(2.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.tasks.close()
            worker.results.close()
        self.workers = []

    # -- the run -----------------------------------------------------------------------------

    def run(self, jobs: Iterable[Job | Any]) -> Iterator[tuple[int, Any]]:
        """Yield (seq, result) for every job, in seq order; a non-Job item is its own result.

        Results come from ``pipeline.process.work_batch`` (one per page); items that are not
        jobs (inputs already rejected while reading) pass through in their place.
        """
        source = iter(jobs)
        exhausted = False
        done: dict[int, Any] = {}
        next_out = 0
        read = 0
        window = WINDOW_PER_WORKER * self.size
        try:
            for _ in range(self.size):
                self._start()
            while True:
                while not exhausted and read - next_out < window:
                    worker = self._free_worker()
                    if worker is None:
                        break
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                        break
                    read += 1
                    if isinstance(item, Job):
                        self._send(worker, item)
                    else:
                        done[read - 1] = item
                while next_out in done:
                    yield next_out, done.pop(next_out)
                    next_out += 1
                if exhausted and next_out == read:
                    return
                self._retry_dead_workers_pages()
                self._collect(done, timeout=1.0)
        finally:
            self.close()

    def _free_worker(self) -> _Worker | None:
        """The live worker with the fewest pages that takes new ones (not one retrying a dead worker's)."""
        free = [w for w in self.workers if not w.isolated and len(w.held) < PAGES_PER_WORKER]
        return min(free, key=lambda w: len(w.held)) if free else None

    def _send(self, worker: _Worker, job: Job) -> None:
        worker.held[job.seq] = job
        with contextlib.suppress(OSError):  # it died just now: its sentinel says so at the next wait, then a retry
            worker.tasks.send(job)

    def _retry_dead_workers_pages(self) -> None:
        """A worker that inherited a dead one's pages gets them alone, one at a time."""
        for worker in self.workers:
            if worker.retries and not worker.held and worker.ready:
                self._send(worker, worker.retries.popleft())

    def _collect(self, done: dict[int, Any], timeout: float) -> None:
        by_handle: dict[Any, _Worker] = {}
        for worker in self.workers:
            by_handle[worker.results] = worker
            by_handle[worker.process.sentinel] = worker
        dead: list[_Worker] = []
        for handle in wait(list(by_handle), timeout):
            worker = by_handle[handle]
            if worker in dead:
                continue
            if handle is worker.results:
                if not self._receive(worker, done):
                    dead.append(worker)
            elif not worker.process.is_alive():
                while self._receive(worker, done, block=False):  # what it sent before it died counts
                    pass
                dead.append(worker)
        for worker in dead:
            self._replace(worker, done)

    def _receive(self, worker: _Worker, done: dict[int, Any], block: bool = True) -> bool:
        """Read one message; False once the worker's pipe is closed (it exited or died)."""
        try:
            if not block and not worker.results.poll():
                return False
            message = worker.results.recv()
        except (EOFError, OSError):
            return False
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self.start_failures = 0
        elif kind == "done":
            _, results, rss = message
            for seq, result in results:
                if worker.held.pop(seq, None) is not None:
                    done[seq] = result
            self.peak_rss[worker.pid] = max(self.peak_rss.get(worker.pid, 0), rss)
        elif kind == "error":
            _, error, remote = message
            if isinstance(error, BaseException):
                raise error from WorkerError(remote)
            raise WorkerError(f"a worker failed: {error}\n{remote}")
        return True

    def _replace(self, dead: _Worker, done: dict[int, Any]) -> None:
        """A worker died: start a fresh one for its pages; a page that had already killed one ends here."""
        dead.process.join(1.0)
        how = _exit_reason(dead.process.exitcode)
        self.workers.remove(dead)
        dead.tasks.close()
        dead.results.close()
        if not dead.ready:
            self.start_failures += 1
            if self.start_failures >= MAX_START_FAILURES:
                raise WorkerError(f"{self.start_failures} worker processes in a row died while starting ({how}): "
                                  "not a bad page; check memory and the model (enrich.model)")
        else:
            self.deaths += 1
        fresh = self._start()
        log_event(log, "worker_died", logging.ERROR, pid=dead.pid, reason=how, pages_held=len(dead.held),
                  replacement=fresh.pid)
        fresh.retries.extend(dead.retries)  # not sent yet: they wait for the fresh worker as they waited
        for job in sorted(dead.held.values(), key=lambda j: j.seq):
            if not dead.ready:  # it died loading the model: nothing was tried on these pages yet
                fresh.retries.append(job) if fresh.retries else self._send(fresh, job)
                continue
            job.deaths += 1
            if job.deaths >= 2:
                done[job.seq] = died(job, f"the worker died twice on this page ({how})")
            else:
                fresh.retries.append(job)


def died(job: Job, reason: str) -> Any:
    """The result of a page two workers died on (a ``pipeline.process.Finished``)."""
    from pipeline.process import Finished, source_key

    return Finished(Outcome.WORKER_DIED, reason=reason, url=job.page.url, source=source_key(job.page),
                    warc_file=job.page.provenance.warc_file, warc_offset=job.page.provenance.warc_offset)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running after it closed its pipe"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# ---------------------------------------------------------------------------------------------
# Inside a worker


def worker_main(settings: Settings, tasks: Connection, results: Connection, page_hook: PageHook | None) -> None:
    """A worker's life: load everything once, then extract, gate and enrich batches until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers itself
    inbox: queue.Queue[Job | None] = queue.Queue()
    outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()

    def read() -> None:
        while True:
            try:
                job = tasks.recv()
            except (EOFError, OSError):  # the parent is gone
                job = None
            inbox.put(job)
            if job is None:
                return

    def send() -> None:
        while (message := outbox.get()) is not None:
            try:
                results.send(message)
            except OSError:  # the parent is gone
                return

    reader = threading.Thread(target=read, name="pages-in", daemon=True)
    sender = threading.Thread(target=send, name="results-out", daemon=True)
    reader.start()  # pages queue up here while the model loads
    try:
        from pipeline.process import warm_up, work_batch

        warm_up(settings)
        # Sent by this thread, before the sender starts and before any page is tried: the parent must know
        # the worker was ready before it can die on a page, or a page that kills it looks like a failed start.
        results.send(("ready", os.getpid()))
        sender.start()
        batch_size = max(1, settings.enrich.batch_articles)
        while (job := inbox.get()) is not None:
            batch = [job]
            while len(batch) < batch_size:
                try:
                    more = inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    inbox.put(None)
                    break
                batch.append(more)
            if page_hook is not None:
                for item in batch:
                    page_hook(item.page)
            finished = work_batch([(j.page, j.gated) for j in batch], settings)
            outbox.put(("done", [(j.seq, f) for j, f in zip(batch, finished, strict=True)], _peak_rss()))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which stops the run with it
        outbox.put(("error", _portable(exc), traceback.format_exc()))
    finally:
        outbox.put(None)
        if not sender.is_alive() and sender.ident is None:
            sender.start()
        sender.join(STOP_TIMEOUT_S)


def _portable(exc: BaseException) -> BaseException | str:
    """The exception itself when it survives pickling (DataFileError does), else its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any pickling failure: send the text instead
        return f"{type(exc).__name__}: {exc}"
    return exc


def _peak_rss() -> int:
    """This process's peak resident set size in bytes (Linux reports ru_maxrss in KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
