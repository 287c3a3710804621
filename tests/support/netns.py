"""Network namespaces as load machines for the scale-out tests (design.md s.10).

Each namespace gets one veth pair; the root side and the namespace side share a /30 of a
private /24 (10.231.N.0/24, N chosen so that no route or address of this machine is in it),
so the only traffic is between this machine and the namespaces the test made:

    root  icnt<pid>v0 10.231.N.1/30  <->  10.231.N.2/30 icnt<pid>p0  (namespace icnt<pid>x0)
    root  icnt<pid>v1 10.231.N.5/30  <->  10.231.N.6/30 icnt<pid>p1  (namespace icnt<pid>x1)

and every namespace routes the /24 through its root side, so all of them reach 10.231.N.1,
the address the master binds. Names carry the creating pid: `clear_leftovers()` removes
what a killed earlier test left (its pid is gone) without touching a live one's.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

__all__ = ["PREFIX", "unavailable", "clear_leftovers", "LoadHosts"]

PREFIX = "icnt"
_made = [0]


def _tag() -> str:
    """icnt<pid><letter>: unique per LoadHosts of this process, link names stay <= 15 chars."""
    _made[0] += 1
    return f"{PREFIX}{os.getpid()}{chr(ord('a') + (_made[0] - 1) % 26)}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=15)


def unavailable() -> str | None:
    """Why these tests cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "no 'ip' command (apt-get install iproute2)"
    try:
        r = _ip("netns", "list", check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"'ip netns' is not usable: {e}"
    if r.returncode != 0:
        return f"'ip netns' is not usable: {r.stderr.strip()}"
    return None


def _owner_alive(name: str) -> bool:
    digits = ""
    for ch in name[len(PREFIX):]:
        if not ch.isdigit():
            break
        digits += ch
    if not digits:
        return False
    try:
        os.kill(int(digits), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def clear_leftovers() -> list[str]:
    """Delete namespaces and links named PREFIX<pid>... whose creating process is gone."""
    gone = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX) and not _owner_alive(name):
            _ip("netns", "del", name, check=False)
            gone.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(PREFIX) and not _owner_alive(name):
                _ip("link", "del", name, check=False)
                gone.append(name)
    return gone


def _free_subnet() -> int:
    """N such that 10.231.N.0/24 overlaps no address or route of this machine."""
    used = []
    for cmd in (("-4", "-o", "addr", "show"), ("-4", "route", "show", "table", "all")):
        for token in _ip(*cmd, check=False).stdout.split():
            try:
                used.append(ipaddress.ip_network(token, strict=False))
            except ValueError:
                continue
    start = os.getpid() % 200 + 20
    for k in range(250):
        n = (start + k) % 250 + 1
        net = ipaddress.ip_network(f"10.231.{n}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return n
    raise RuntimeError("no free 10.231.N.0/24 on this machine")


@dataclass
class LoadHosts:
    """`count` namespaces with a veth pair each; `close()` removes everything, always."""

    count: int = 2
    tag: str = field(default_factory=_tag)
    subnet: int = 0
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def bind(self) -> str:
        """The root side's address of the first pair: where the master listens."""
        return f"10.231.{self.subnet}.1"

    def address(self, i: int) -> str:
        return f"10.231.{self.subnet}.{4 * i + 2}"

    def create(self) -> "LoadHosts":
        self.subnet = _free_subnet()
        net = f"10.231.{self.subnet}"
        for i in range(self.count):
            ns, root, peer = f"{self.tag}x{i}", f"{self.tag}v{i}", f"{self.tag}p{i}"
            _ip("netns", "add", ns)
            self.namespaces.append(ns)
            _ip("link", "add", root, "type", "veth", "peer", "name", peer, "netns", ns)
            _ip("addr", "add", f"{net}.{4 * i + 1}/30", "dev", root)
            _ip("link", "set", root, "up")
            _ip("-n", ns, "addr", "add", f"{net}.{4 * i + 2}/30", "dev", peer)
            _ip("-n", ns, "link", "set", peer, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", f"{net}.0/24", "via", f"{net}.{4 * i + 1}")
        return self

    def spawn(self, i: int, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        """Start `argv` inside namespace i, in its own process group, output to `log`."""
        with open(log, "wb") as fh:
            p = subprocess.Popen(["ip", "netns", "exec", self.namespaces[i], *argv], stdout=fh,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        self.procs.append(p)
        return p

    def pids_in(self, i: int) -> list[int]:
        r = _ip("netns", "pids", self.namespaces[i], check=False)
        return [int(x) for x in r.stdout.split() if x.isdigit()]

    def close(self) -> None:
        for i in range(len(self.namespaces)):      # everything still running in a namespace
            for pid in self.pids_in(i):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for ns in self.namespaces:
            _ip("netns", "del", ns, check=False)
        for i in range(self.count):
            _ip("link", "del", f"{self.tag}v{i}", check=False)   # gone with its peer, normally
        self.namespaces.clear()
