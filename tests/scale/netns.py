"""Worker hosts on one machine: Linux network namespaces on a bridge, each with its own address and name.

    with worker_hosts(("host-a", "host-b"), disks={"host-a": dir_a, "host-b": dir_b}) as net:
        net.gateway                      # 10.231.X.1: the host side, where the shared services listen
        a = net.host("host-a")           # address 10.231.X.2, hostname "host-a"
        subprocess.Popen(a.command(["airflow", "celery", "worker", ...]), ...)

Each host is what a second machine is to the pipeline: a network namespace whose only way out is
a veth pair into a bridge on the host (no route anywhere else), its own hostname (a UTS namespace:
``socket.gethostname()``, so Airflow's task hostnames and the ledger's claim hosts tell them apart),
its own /etc/hosts and resolv.conf (``ip netns exec`` binds /etc/netns/NAME/ over /etc: no DNS,
nothing to time out on) and its own disk: its folder is bind-mounted on the same path,
``net.disk``, in every host, so a path one host writes names nothing on the other.

Names carry the creating pid, so a run that crashed (kill -9, a lost CI runner) leaves namespaces
and a bridge that the next run recognises and removes before it starts. Needs root and iproute2;
``unavailable()`` says why not, for a skip.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

PREFIX = "chancery-scale"  # namespaces: chancery-scale-<pid>-<token>-<n>; the bridge's alias: chancery-scale:<pid>
SUPERNET = ipaddress.ip_network("10.231.0.0/16")  # one /24 of it per run: the first one no interface uses
NETNS_ETC = Path("/etc/netns")
DISK_ROOT = Path("/run")  # net.disk = /run/chancery-scale-<token>: the same path in every host


class HostsUnavailable(RuntimeError):
    """This machine cannot make worker hosts (not root, no iproute2, namespaces refused)."""


def unavailable() -> str | None:
    """Why worker hosts cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the scale tests as root)"
    for tool in ("ip", "unshare", "hostname", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (iproute2 / util-linux)"
    probe = f"{PREFIX}-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` refused: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@dataclass(frozen=True)
class Host:
    name: str  # its hostname, as its processes see it
    netns: str
    address: str
    veth: str  # the host-side end, attached to the bridge
    disk: Path | None  # this host's own folder, seen inside at Network.disk
    mount_point: Path

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host: its namespace, its hostname, its disk at the common mount point.

        Every step execs the next, so the process started is ``argv`` itself (its pid is the
        Popen's): a signal to it reaches the program, not a wrapper shell.
        """
        script = 'hostname "$1" && { [ -z "$2" ] || mount --bind "$2" "$3"; } && shift 3 && exec "$@"'
        disk = str(self.disk) if self.disk else ""
        return ["ip", "netns", "exec", self.netns, "unshare", "--uts", "--", "sh", "-c", script, "sh",
                self.name, disk, str(self.mount_point), *argv]

    def run(self, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class Network:
    token: str
    bridge: str
    subnet: ipaddress.IPv4Network
    gateway: str  # the bridge's address: the host's, where shared services listen
    hosts: tuple[Host, ...]
    disk: Path  # every host's own folder is mounted here, inside that host

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise HostsUnavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    listed = _ip("-j", "netns", "list", check=False).stdout.strip()
    return [entry["name"] for entry in json.loads(listed or "[]")]


def _remove_namespace(name: str) -> None:
    """Kill what still runs in it (processes a test started there), then delete it and its /etc/netns files."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", name, check=False)  # its veth end goes with it, and so does the peer
    shutil.rmtree(NETNS_ETC / name, ignore_errors=True)


def clean_leftovers() -> list[str]:
    """Remove namespaces and bridges of runs whose process is gone; the names removed."""
    removed: list[str] = []
    for name in _namespaces():
        parts = name[len(PREFIX) + 1:].split("-") if name.startswith(PREFIX + "-") else []
        if parts and parts[0].isdigit() and not _pid_alive(int(parts[0])):
            _remove_namespace(name)
            removed.append(name)
    bridges = json.loads(_ip("-j", "link", "show", "type", "bridge", check=False).stdout.strip() or "[]")
    for link in bridges:
        alias = link.get("ifalias", "")
        owner = alias.split(":", 1)[1] if alias.startswith(PREFIX + ":") else ""
        if owner.isdigit() and not _pid_alive(int(owner)):
            _ip("link", "del", link["ifname"], check=False)
            removed.append(link["ifname"])
    for folder in DISK_ROOT.glob(f"{PREFIX}-*"):
        owner = folder.name[len(PREFIX) + 1:].split("-")[0]
        if owner.isdigit() and not _pid_alive(int(owner)) and folder.is_dir() and not os.path.ismount(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def _free_subnet() -> ipaddress.IPv4Network:
    used = json.loads(_ip("-j", "addr", check=False).stdout.strip() or "[]")
    taken = {
        ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network
        for link in used for a in link.get("addr_info", []) if a.get("family") == "inet"
    }
    for subnet in SUPERNET.subnets(new_prefix=24):
        if not any(subnet.overlaps(t) for t in taken):
            return subnet
    raise HostsUnavailable(f"every /24 of {SUPERNET} is in use on this machine")


def _write_etc(netns: str, hosts: Mapping[str, str], gateway: str) -> None:
    folder = NETNS_ETC / netns
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["127.0.0.1 localhost", f"{gateway} chancery-services"] + [f"{a} {n}" for n, a in hosts.items()]
    (folder / "hosts").write_text("\n".join(lines) + "\n")
    # No nameserver: a lookup of anything not in hosts fails at once instead of timing out on a DNS
    # server the namespace cannot reach.
    (folder / "resolv.conf").write_text("# a worker host of the scale test: no DNS\noptions timeout:1 attempts:1\n")


def create(names: Sequence[str], disks: Mapping[str, Path] | None = None) -> Network:
    """A bridge on a free /24 (its .1 is the host's side) and one namespace per name at .2, .3, …"""
    token = f"{os.getpid()}-{secrets.token_hex(2)}"
    short = secrets.token_hex(3)  # interface names are at most 15 characters
    subnet = _free_subnet()
    addresses = list(subnet.hosts())
    gateway = str(addresses[0])
    bridge = f"chys{short}"
    disk = DISK_ROOT / f"{PREFIX}-{token}"
    disk.mkdir(mode=0o755)
    network = Network(token, bridge, subnet, gateway, (), disk)
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("link", "set", "dev", bridge, "alias", f"{PREFIX}:{os.getpid()}")
        _ip("addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", bridge)
        _ip("link", "set", bridge, "up")
        address_of = {name: str(addresses[i + 1]) for i, name in enumerate(names)}
        hosts = []
        for i, name in enumerate(names):
            netns, veth, peer = f"{PREFIX}-{token}-{i}", f"chy{short}h{i}", f"chy{short}n{i}"
            host = Host(name, netns, address_of[name], veth, (disks or {}).get(name), disk)
            hosts.append(host)
            network = Network(token, bridge, subnet, gateway, tuple(hosts), disk)
            _ip("netns", "add", netns)
            _write_etc(netns, address_of, gateway)
            _ip("link", "add", veth, "type", "veth", "peer", "name", peer, "netns", netns)
            _ip("link", "set", veth, "master", bridge, "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            _ip("-n", netns, "addr", "add", f"{host.address}/{subnet.prefixlen}", "dev", peer)
            _ip("-n", netns, "link", "set", peer, "up")
    except BaseException:
        destroy(network)
        raise
    return network


def destroy(network: Network) -> None:
    """Everything ``create`` made, whatever state it is in; safe to call twice."""
    for host in network.hosts:
        _remove_namespace(host.netns)
    _ip("link", "del", network.bridge, check=False)
    if network.disk.is_dir() and not os.path.ismount(network.disk):
        shutil.rmtree(network.disk, ignore_errors=True)


def own_disks(root: Path, names: Sequence[str]) -> dict[str, Path]:
    """A folder per host under ``root``, made: what ``worker_hosts`` mounts as each host's own disk."""
    disks = {name: root / name for name in names}
    for folder in disks.values():
        folder.mkdir()
    return disks


@contextmanager
def worker_hosts(names: Sequence[str], disks: Mapping[str, Path] | None = None) -> Iterator[Network]:
    """Hosts for the block, removed after it even when it fails; a crashed earlier run's are removed first."""
    clean_leftovers()
    network = create(names, disks)
    try:
        yield network
    finally:
        destroy(network)
