"""The systemd unit for ``ceoline serve``, written from the config it will run with.

The unit is the compliance team's proof that no byte of a call leaves the box: systemd
itself drops every packet to or from an address that is not loopback, the trunk (``[sip]
allow``), the registrar or a configured webhook destination (``IPAddressDeny=any`` with
``IPAddressAllow``), whatever the code does. The rest is the usual hardening for a network
daemon: its own user, a read-only system with only the data directory writable, no new
privileges, no capabilities, a system call filter. Two protections are left off on purpose,
each for a stated reason below.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

from ceoline.config import Config
from ceoline.errors import ConfigError

# systemd's name for 127.0.0.0/8 and ::1.
LOOPBACK = "localhost"


def _resolved(host: str) -> list[str]:
    """HOST's addresses: itself when it is one, else what the resolver says now."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except OSError:
        return []


def allowed_addresses(config: Config, extra: tuple[str, ...] = ()) -> list[str]:
    """Loopback, the trunk's sources, the registrar when it is an address, each webhook
    destination's addresses, and ``extra`` (media servers on other addresses, a remote
    Prometheus), each checked as a CIDR."""
    allowed = [LOOPBACK]
    hooks = []
    for hook in config.webhooks:
        addresses = _resolved(urlsplit(hook.url).hostname or "")
        if not addresses:
            raise ConfigError(
                f"webhook {hook.name}: cannot resolve {urlsplit(hook.url).hostname!r}; the unit "
                "must name the destination's address (use an address, or fix the name)"
            )
        hooks += [f"{a}/{32 if ':' not in a else 128}" for a in addresses]
    extra = (*extra, *hooks)
    for entry in (*config.sip.allow, *extra):
        network = str(ipaddress.ip_network(entry, strict=False))
        if not ipaddress.ip_network(network).is_loopback and network not in allowed:
            allowed.append(network)
    registrar = config.sip.registration.registrar
    if registrar:
        host = urlsplit(registrar.replace("sip:", "sip://", 1)).hostname or ""
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            address = ""  # a name: it must resolve to an address already allowed
        if address and not any(
            ipaddress.ip_address(address) in ipaddress.ip_network(a)
            for a in allowed
            if a != LOOPBACK
        ):
            allowed.append(f"{address}/{32 if ':' not in address else 128}")
    return allowed


def serve_unit(
    config: Config,
    config_path: Path,
    *,
    prefix: Path = Path("/opt/ceoline"),
    user: str = "ceoline",
    extra_allow: tuple[str, ...] = (),
) -> str:
    """The text of ``ceoline.service`` for this config."""
    data_dir = config.data_dir
    grace = config.call.shutdown_grace_s
    allow = " ".join(allowed_addresses(config, extra_allow))
    privileged = config.sip.port < 1024 or config.dashboard.port < 1024
    capabilities = "CAP_NET_BIND_SERVICE" if privileged else ""
    if config.runtime.device == "cuda":
        # The GPU's device nodes, and nothing else under /dev.
        devices = (
            "PrivateDevices=no\nDevicePolicy=closed\n"
            # nvidia-frontend is /dev/nvidiactl and /dev/nvidia<N>; uvm is CUDA's memory.
            "DeviceAllow=char-nvidia-frontend rw\nDeviceAllow=char-nvidia-uvm rw"
        )
    else:
        devices = "PrivateDevices=yes"
    return f"""\
# ceoline serve, hardened. Written by `ceoline service unit`; edit the config, not this file.
[Unit]
Description=ceoline AI CEO hotline (SIP, voice loop, dashboard, metrics)
Documentation=file://{prefix}/README.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
WorkingDirectory={prefix}
Environment=CEOLINE_CONFIG={config_path}
Environment=HF_HUB_OFFLINE=1
# Secrets such as CEOLINE_SIP_PASSWORD, readable by root only.
EnvironmentFile=-/etc/ceoline/ceoline.env
ExecStart={prefix}/.venv/bin/ceoline serve
# SIGTERM: new calls get 503, live calls hear a goodbye, the store is flushed.
KillSignal=SIGTERM
TimeoutStopSec={grace + 30}
Restart=on-failure
RestartSec=2

# No byte leaves the box: every packet to or from any other address is dropped.
IPAddressDeny=any
IPAddressAllow={allow}

# The data directory is the only place it writes.
ReadWritePaths={data_dir}
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateUsers=yes
PrivateMounts=yes
{devices}
UMask=0077

NoNewPrivileges=yes
CapabilityBoundingSet={capabilities}
AmbientCapabilities={capabilities}
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
RemoveIPC=yes
# pjsip lists the interfaces over netlink; nothing else but IP and local sockets.
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
# Left off: MemoryDenyWriteExecute (the SIP guard's ctypes callback needs an executable
# trampoline), ProcSubset=pid (the inference libraries read /proc/cpuinfo at start) and
# PrivateNetwork (the service answers the trunk; IPAddressAllow is its network boundary).

[Install]
WantedBy=multi-user.target
"""
