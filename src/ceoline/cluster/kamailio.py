"""Kamailio in front of the workers: its config, written from ceoline's, and its process.

What the proxy does with each request, in order:

* a source outside ``[sip] allow`` gets what a single ceoline gives it (silence, or 403),
  whatever it sends; ``pike`` counts such sources and, once one floods, drops it before
  anything else is done (the trunk's own addresses are never counted);
* malformed requests fail ``sanity_check`` and are dropped;
* requests inside a dialog follow the Record-Route back to the worker that took the call;
* a new INVITE goes to the live worker with the fewest calls (dispatcher algorithm 10, call
  load, ``maxload`` = ``[sip] max_calls``); a worker that answers 486 or 503 or says nothing
  in time is skipped for the next (``failure_route``); when none is left, or every worker is
  full, Kamailio answers ``503`` with ``Retry-After`` itself;
* every worker is probed with OPTIONS each ``[cluster] probe_interval_s``; a silent one gets
  no calls until it answers again.

Media never passes through Kamailio: each worker's SDP carries the box's media address.
"""

from __future__ import annotations

import ipaddress
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ceoline.cluster.workers import INTERNAL_ADDRESS, proxy_port, workers
from ceoline.config import Config
from ceoline.errors import CeolineError

CONFIG_NAME = "kamailio.cfg"
DISPATCHER_NAME = "dispatcher.list"
CONTROL_NAME = "kamailio.ctl"
# Set id of the workers in the dispatcher list.
WORKERS_SET = 1
# How long a worker may take to give any answer to an INVITE before the next is tried.
FIRST_REPLY_MS = 2000


class KamailioError(CeolineError):
    exit_code = 6


def cluster_dir(config: Config) -> Path:
    return config.data_dir / "cluster"


def dispatcher_list(config: Config) -> str:
    """One line per worker: set, URI, flags, priority, attributes (duid, maxload, socket)."""
    socket = f"udp:{INTERNAL_ADDRESS}:{proxy_port(config)}"
    lines = ["# set destination flags priority attributes (written by ceoline)"]
    for w in workers(config):
        attrs = f"duid={w.name};maxload={config.sip.max_calls};socket={socket}"
        lines.append(f"{WORKERS_SET} {w.uri} 0 0 {attrs}")
    return "\n".join(lines) + "\n"


def _subnet_test(allow: tuple[str, ...]) -> str:
    tests = [
        f'is_in_subnet("$si", "{ipaddress.ip_network(entry, strict=False)}")' for entry in allow
    ]
    return " || ".join(tests) if tests else "0"


# Dispatcher algorithms: call load (workers on this box), priority order (boxes in front).
CALL_LOAD, PRIORITY = "10", "8"


def front_dispatcher_list(boxes: list[str]) -> str:
    """Boxes for a front proxy, in the order given: a box at capacity answers 503 at once,
    one that is down does not answer, and either way the call goes on to the next."""
    lines = ["# set destination flags priority attributes (written by ceoline)"]
    for n, box in enumerate(boxes):
        uri = box if box.startswith("sip:") else f"sip:{box}"
        lines.append(f"{WORKERS_SET} {uri} 0 {len(boxes) - n} duid=box-{n}")
    return "\n".join(lines) + "\n"


def kamailio_cfg(config: Config, directory: Path, algorithm: str = CALL_LOAD) -> str:
    sip, cluster = config.sip, config.cluster
    listens = []
    if sip.udp:
        listens.append(f"listen=udp:{sip.address}:{sip.port}")
    if sip.tcp:
        listens.append(f"listen=tcp:{sip.address}:{sip.port}")
    internal = f"udp:{INTERNAL_ADDRESS}:{proxy_port(config)}"
    if algorithm == CALL_LOAD and internal.split(":", 1)[1] != f"{sip.address}:{sip.port}":
        listens.append(f"listen={internal}")
    refuse = (
        'if (!is_method("ACK")) { sl_send_reply("403", "Forbidden"); }'
        if sip.reject == "403"
        else ""
    )
    listen_lines = "\n".join(listens)
    return f"""#!KAMAILIO
# Written by `ceoline cluster config` from {config.source}; edit that, not this file.

debug=2
log_stderror=yes
log_facility=LOG_LOCAL0
log_prefix="{{$mt $hdr(CSeq) $ci}} "
fork=yes
children=2
tcp_children=2
disable_tcp=no
auto_aliases=no
alias="{sip.address}:{sip.port}"
{listen_lines}
server_header="Server: {sip.user_agent}"
user_agent_header="User-Agent: {sip.user_agent}"
sip_warning=0
# A proxy that relays a 503 turns it into 500 (RFC 3261 16.7); replies made here stay 503.

loadmodule "jsonrpcs.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "ipops.so"
loadmodule "pike.so"
loadmodule "dispatcher.so"

modparam("jsonrpcs", "transport", 0)
modparam("ctl", "binrpc", "unix:{directory / CONTROL_NAME}")
modparam("tm", "fr_timer", {FIRST_REPLY_MS})
modparam("tm", "fr_inv_timer", 60000)
modparam("rr", "enable_full_lr", 1)
modparam("pike", "sampling_time_unit", 2)
modparam("pike", "reqs_density_per_unit", 30)
modparam("pike", "remove_latency", 60)
modparam("dispatcher", "list_file", "{directory / DISPATCHER_NAME}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "xavp_dst", "_dsdst_")
modparam("dispatcher", "xavp_ctx", "_dsctx_")
modparam("dispatcher", "ds_hash_size", 8)
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_from", "sip:proxy@{INTERNAL_ADDRESS}")
modparam("dispatcher", "ds_ping_interval", {cluster.probe_interval_s})
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_reply_codes", "class=2")

request_route {{
    if (!({_subnet_test(sip.allow)})) {{
        if (!pike_check_req()) {{ exit; }}
        {refuse}
        exit;
    }}
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        xlog("L_WARN", "event=proxy.malformed source=$si method=$rm\\n");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{ route(RELAY); }}
        exit;
    }}
    if (!is_method("ACK")) {{ t_check_trans(); }}
    if (has_totag()) {{
        if (loose_route()) {{
            if (is_method("BYE")) {{ ds_load_update(); }}
            route(RELAY);
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{ route(RELAY); }}
            exit;
        }}
        sl_send_reply("481", "Call/Transaction Does Not Exist");
        exit;
    }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (!is_method("INVITE")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    remove_hf("Route");
    record_route();
    if (!ds_select_dst("{WORKERS_SET}", "{algorithm}")) {{
        route(BUSY);
    }}
    t_on_failure("NEXT_WORKER");
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

route[BUSY] {{
    xlog("L_INFO", "event=call.refused source=$si reason=all_workers_busy status=503\\n");
    append_to_reply("Retry-After: {sip.retry_after_s}\\r\\n");
    send_reply("503", "Service Unavailable");
    exit;
}}

failure_route[NEXT_WORKER] {{
    if (t_is_canceled()) {{ exit; }}
    if (t_check_status("486|503") || (t_branch_timeout() && !t_branch_replied())) {{
        if (t_branch_timeout()) {{ ds_mark_dst("ip"); }}
        # ds_next_dst moves this call's load entry to the next worker; unset it only when
        # no worker is left.
        if (ds_next_dst()) {{
            t_on_failure("NEXT_WORKER");
            route(RELAY);
        }}
        ds_load_unset();
        route(BUSY);
    }}
    if (t_check_status("[3-6][0-9][0-9]")) {{ ds_load_unset(); }}
}}
"""


def write_front(config: Config, boxes: list[str], directory: Path) -> Path:
    """A front proxy on [sip] address:port that hands each call to the first of ``boxes``
    that takes it; kamailio.cfg and its dispatcher list in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / DISPATCHER_NAME).write_text(front_dispatcher_list(boxes))
    path = directory / CONFIG_NAME
    path.write_text(kamailio_cfg(config, directory, algorithm=PRIORITY))
    return path


def write_config(config: Config) -> Path:
    """Write kamailio.cfg and the dispatcher list under the data directory; the cfg's path."""
    directory = cluster_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / DISPATCHER_NAME).write_text(dispatcher_list(config))
    path = directory / CONFIG_NAME
    path.write_text(kamailio_cfg(config, directory))
    return path


def kamailio_binary(config: Config) -> str:
    found = shutil.which(config.cluster.kamailio)
    if found is None:
        raise KamailioError(
            f"[cluster] kamailio = {config.cluster.kamailio!r} is not installed; `make install` "
            "installs it (Debian package kamailio), or set workers = 1"
        )
    return found


def check_config(config: Config) -> tuple[bool, str]:
    """``kamailio -c`` on the config ceoline writes: (ok, one line)."""
    try:
        binary = kamailio_binary(config)
    except KamailioError as exc:
        return False, str(exc)
    path = write_config(config)
    run = subprocess.run(
        [binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    if run.returncode == 0:
        return True, f"{path}: kamailio -c ok, {config.cluster.workers} workers"
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line or "error" in line]
    return False, f"{path}: kamailio -c failed: {(errors or [run.stderr.strip()])[-1][:300]}"


@dataclass
class KamailioProcess:
    """Kamailio as a child: started in the foreground, stopped with the supervisor."""

    config: Config
    proc: subprocess.Popen | None = None

    def start(self, log_path: Path) -> None:
        path = write_config(self.config)
        binary = kamailio_binary(self.config)
        log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [binary, "-DD", "-E", "-f", str(path), "-m", "64", "-M", "8"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        control = cluster_dir(self.config) / CONTROL_NAME
        deadline = time.monotonic() + 10
        while not control.exists():
            if self.proc.poll() is not None:
                raise KamailioError(
                    f"kamailio exited {self.proc.returncode} at start; see {log_path}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise KamailioError(f"kamailio did not start within 10 s; see {log_path}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def rpc(config: Config, *command: str) -> str:
    """A Kamailio RPC over its control socket (``kamcmd``), e.g. ``dispatcher.list``."""
    control = cluster_dir(config) / CONTROL_NAME
    run = subprocess.run(
        ["kamcmd", "-s", f"unix:{control}", *command], capture_output=True, text=True, timeout=10
    )
    if run.returncode != 0:
        raise KamailioError(
            f"kamcmd {' '.join(command)} failed ({run.stderr.strip()[:200]}); is `ceoline "
            "serve` running with [cluster] workers > 1?"
        )
    return run.stdout


@dataclass(frozen=True)
class DispatcherEntry:
    uri: str
    flags: str  # A active, I inactive, D disabled; P probing

    @property
    def state(self) -> str:
        if "D" in self.flags:
            return "disabled"
        return "up" if self.flags.startswith("A") else "down"


def dispatcher_entries(config: Config) -> list[DispatcherEntry]:
    """The workers as Kamailio sees them now (``dispatcher.list`` over its control socket)."""
    text = rpc(config, "dispatcher.list")
    entries, uri = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("URI:"):
            uri = line.split(":", 1)[1].strip()
        elif line.startswith("FLAGS:") and uri is not None:
            entries.append(DispatcherEntry(uri, line.split(":", 1)[1].strip()))
            uri = None
    return entries
