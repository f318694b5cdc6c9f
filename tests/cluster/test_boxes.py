"""Two boxes on one machine: network namespaces joined by a bridge, a front Kamailio, SIPp.

Box A (10.99.0.1) and box B (10.99.0.2) each run an ordinary ``ceoline serve`` in a
namespace of their own, with one line each. A front Kamailio (``ceoline cluster front``) and
the caller sit in a third namespace on the bridge (10.99.0.254). Nothing here touches the
machine's own network: every address lives inside namespaces this test creates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from ceoline.cluster.kamailio import CONTROL_NAME, write_front
from ceoline.config import load_config

from ..conftest import make_config
from ..sip_support import (
    ServerProcess,
    calls_with_prefix,
    finish_sipp,
    run_sipp,
    start_server,
    start_sipp,
)

pytestmark = pytest.mark.models

HUB = "10.99.0.254"
BOXES = ("10.99.0.1", "10.99.0.2")
SIP_PORT = 5060


def _netns_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


class Sandbox:
    """A hub namespace with a bridge, and one namespace per box, joined by veth pairs."""

    def __init__(self, boxes: int):
        self._sleepers: list[subprocess.Popen] = []
        self.hub = self._namespace()
        self.ip(self.hub, "link", "set", "lo", "up")
        self.ip(self.hub, "link", "add", "br0", "type", "bridge")
        self.ip(self.hub, "addr", "add", f"{HUB}/24", "dev", "br0")
        self.ip(self.hub, "link", "set", "br0", "up")
        self.boxes = []
        for n in range(boxes):
            box = self._namespace()
            self.ip(self.hub, "link", "add", f"vb{n}", "type", "veth", "peer", "name", "eth0")
            self.ip(self.hub, "link", "set", "eth0", "netns", str(box))
            self.ip(self.hub, "link", "set", f"vb{n}", "master", "br0", "up")
            self.ip(box, "addr", "add", f"{BOXES[n]}/24", "dev", "eth0")
            self.ip(box, "link", "set", "eth0", "up")
            self.ip(box, "link", "set", "lo", "up")
            self.boxes.append(box)

    def _namespace(self) -> int:
        proc = subprocess.Popen(["unshare", "-n", "sleep", "infinity"])
        self._sleepers.append(proc)
        own = os.readlink("/proc/self/ns/net")  # "net:[inode]"
        deadline = time.monotonic() + 5
        while _netns_of(proc.pid) in (own, None):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(
                    "cannot create a network namespace (unshare -n); the two-box test needs "
                    "root or CAP_SYS_ADMIN",
                    pytrace=False,
                )
            time.sleep(0.01)
        return proc.pid

    @staticmethod
    def enter(pid: int) -> tuple[str, ...]:
        return ("nsenter", "-t", str(pid), "-n", "--")

    def ip(self, pid: int, *args: str) -> None:
        subprocess.run([*self.enter(pid), "ip", *args], check=True, capture_output=True)

    def close(self) -> None:
        for proc in self._sleepers:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def two_boxes(tmp_path_factory):
    for tool in ("unshare", "nsenter", "ip", "kamailio"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing; `make install` installs what it needs", pytrace=False)
    base = tmp_path_factory.mktemp("boxes")
    sandbox = Sandbox(len(BOXES))
    servers: list[ServerProcess] = []
    front = None
    try:
        for n, (pid, address) in enumerate(zip(sandbox.boxes, BOXES, strict=True)):
            servers.append(
                start_server(
                    base / f"box-{n}",
                    ready_timeout=300,
                    wrap=sandbox.enter(pid),
                    sip={
                        "address": address,
                        "port": SIP_PORT,
                        "rtp_port": 40000,
                        "max_calls": 1,
                        "allow": [f"{HUB}/32"],
                    },
                    cluster={"box": f"box-{'ab'[n]}"},
                )
            )
        front_config = load_config(
            make_config(base, sip={"address": HUB, "port": SIP_PORT, "allow": [f"{HUB}/32"]})
        )
        path = write_front(front_config, [f"{a}:{SIP_PORT}" for a in BOXES], base / "front")
        log = (base / "front.log").open("wb")
        front = subprocess.Popen(
            [*sandbox.enter(sandbox.hub), "kamailio", "-DD", "-E", "-f", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not (base / "front" / CONTROL_NAME).exists():
            assert front.poll() is None and time.monotonic() < deadline, (
                base / "front.log"
            ).read_text()
            time.sleep(0.05)
        yield sandbox, servers
    finally:
        if front is not None:
            front.terminate()
            front.wait(timeout=10)
        for server in servers:
            server.stop(timeout=60)
        sandbox.close()


def test_a_full_box_sends_the_next_call_to_the_other_box(two_boxes, tmp_path):
    sandbox, (box_a, box_b) = two_boxes
    hub = sandbox.enter(sandbox.hub)
    target = f"{HUB}:{SIP_PORT}"
    first = start_sipp(
        "call_hold",
        tmp_path,
        "first",
        target,
        timeout_s=40,
        extra=("-d", "12000"),
        local=HUB,
        wrap=hub,
    )
    assert calls_with_prefix(box_a, first[1], 1, timeout=20, ended=False), box_a.log()[-3000:]
    second = start_sipp(
        "call_hold",
        tmp_path,
        "second",
        target,
        timeout_s=40,
        extra=("-d", "6000"),
        local=HUB,
        wrap=hub,
    )
    assert calls_with_prefix(box_b, second[1], 1, timeout=20, ended=False), box_b.log()[-3000:]
    # Both lines are taken: the front answers 503 at once.
    third = run_sipp("busy_via_proxy", tmp_path, "third", target, timeout_s=15, local=HUB, wrap=hub)
    results = [finish_sipp(first, tmp_path, "first"), finish_sipp(second, tmp_path, "second")]
    assert all(r.returncode == 0 for r in results), [r.report() for r in results]
    assert third.returncode == 0 and third.elapsed_s < 5, third.report()
    a_calls = calls_with_prefix(box_a, first[1], 1)
    b_calls = calls_with_prefix(box_b, second[1], 1)
    assert [c["end_reason"] for c in a_calls] == ["caller_hangup"]
    assert [c["end_reason"] for c in b_calls] == ["caller_hangup"]
    # Each box stores only its own calls.
    assert not calls_with_prefix(box_a, second[1], 1, timeout=0, ended=False)
    assert not calls_with_prefix(box_b, first[1], 1, timeout=0, ended=False)
    assert [c["box"] for c in a_calls + b_calls] == ["box-a", "box-b"]


def test_a_box_that_is_down_sends_the_call_to_the_other_box(two_boxes, tmp_path):
    sandbox, (box_a, box_b) = two_boxes
    box_a.proc.kill()
    box_a.proc.wait()
    call = run_sipp(
        "call_hold",
        tmp_path,
        "after-a-died",
        f"{HUB}:{SIP_PORT}",
        timeout_s=30,
        extra=("-d", "500"),
        local=HUB,
        wrap=sandbox.enter(sandbox.hub),
    )
    assert call.returncode == 0, call.report()
    stored = calls_with_prefix(box_b, call.call_id_prefix, 1)
    assert [(c["box"], c["end_reason"]) for c in stored] == [("box-b", "caller_hangup")]
