"""The worker hosts of the scale test are real separate hosts as far as the pipeline can tell.

Each has its own address, hostname and disk; it reaches services listening on the host side of
its bridge, not the host's loopback; and nothing is left behind, by this run or by one killed -9.
"""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from netns import PREFIX, Network, _namespaces, clean_leftovers, own_disks, unavailable, worker_hosts

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no worker hosts here: {REASON}")

HERE = Path(__file__).resolve().parent


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    disks = own_disks(tmp_path, ("host-a", "host-b"))
    with worker_hosts(list(disks), disks) as network:
        yield network


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps({"peer": self.client_address[0]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


def _serve(address: str) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((address, 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _get(net: Network, host: str, url: str) -> subprocess.CompletedProcess[str]:
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=3).read().decode())"
    return net.host(host).run([sys.executable, "-c", code], timeout=30)


def test_each_host_has_its_own_name_address_and_disk(net: Network) -> None:
    a, b = net.host("host-a"), net.host("host-b")
    assert a.address != b.address and net.gateway not in (a.address, b.address)
    for host in (a, b):
        seen = host.run([sys.executable, "-c", "import socket; print(socket.gethostname(), socket.getfqdn())"])
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.split() == [host.name, host.name]
        written = host.run(["sh", "-c", f'echo {host.name} > "{net.disk}/who" && cat "{net.disk}/who"'])
        assert written.stdout.strip() == host.name, written.stderr
    assert (a.disk / "who").read_text().strip() == "host-a"  # each wrote its own folder,
    assert (b.disk / "who").read_text().strip() == "host-b"  # through the same path
    assert not (net.disk / "who").exists()  # and the host's own view of that path is untouched
    addresses = a.run(["ip", "-j", "-4", "addr"]).stdout
    assert a.address in addresses and b.address not in addresses and net.gateway not in addresses


def test_hosts_reach_services_on_the_bridge_and_not_the_hosts_loopback(net: Network) -> None:
    on_bridge, on_loopback = _serve(net.gateway), _serve("127.0.0.1")
    try:
        for name in ("host-a", "host-b"):
            got = _get(net, name, f"http://{net.gateway}:{on_bridge.server_address[1]}/")
            assert got.returncode == 0, got.stderr
            assert json.loads(got.stdout) == {"peer": net.host(name).address}  # it came from that host's address
            refused = _get(net, name, f"http://127.0.0.1:{on_loopback.server_address[1]}/")
            assert refused.returncode != 0 and "Connection refused" in refused.stderr
    finally:
        for server in (on_bridge, on_loopback):
            server.shutdown()
            server.server_close()


def test_everything_goes_at_the_end(tmp_path: Path) -> None:
    with worker_hosts(["host-a"]) as network:
        ns, bridge, disk = network.hosts[0].netns, network.bridge, network.disk
        assert ns in _namespaces()
    assert ns not in _namespaces()
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
    assert not disk.exists() and not Path(f"/etc/netns/{ns}").exists()


def test_a_crashed_runs_hosts_are_removed_by_the_next_run() -> None:
    # A process that makes hosts, starts a sleeper in one and is killed -9 before its cleanup runs.
    code = (f"import sys, time; sys.path.insert(0, {str(HERE)!r}); import netns; net = netns.create(['host-a']); "
            "import subprocess; subprocess.Popen(net.hosts[0].command(['sleep', '600'])); "
            "print(net.hosts[0].netns, net.bridge, net.disk, flush=True); time.sleep(600)")
    crashed = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert crashed.stdout is not None
    ns, bridge, disk = crashed.stdout.readline().split()
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=10)
    crashed.stdout.close()
    assert ns in _namespaces()
    sleeper = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    assert sleeper, "the crashed run's process inside its host"

    removed = clean_leftovers()

    assert ns in removed and bridge in removed and disk in removed
    assert ns not in _namespaces() and not any(n.startswith(f"{PREFIX}-{crashed.pid}-") for n in _namespaces())
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
    assert not Path(disk).exists()
    assert not any(_running(int(pid)) for pid in sleeper)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
