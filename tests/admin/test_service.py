"""The systemd unit: written from the config, hardened, and accepted by systemd itself."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from ceoline.admin.service import allowed_addresses, serve_unit
from ceoline.cli import app
from ceoline.config import load_config
from ceoline.errors import ConfigError

from ..conftest import ROOT, make_config

PRODUCTION = ROOT / "configs" / "production.toml"
HARDENING = {
    "User": "ceoline",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/ceoline",
    "IPAddressDeny": "any",
    "IPAddressAllow": "localhost 10.20.0.10/32 10.20.0.11/32",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "SystemCallFilter": "@system-service",
}


def keys(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail(
            "systemd-analyze is missing, so the unit cannot be verified; `make install` "
            "installs it (Debian package systemd)",
            pytrace=False,
        )
    return path


def test_the_shipped_unit_is_the_one_the_production_config_writes():
    shipped = (ROOT / "deploy" / "ceoline.service").read_text()
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "service",
            "unit",
            "--config",
            str(PRODUCTION),
            "--config-at",
            "/etc/ceoline/ceoline.toml",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == shipped, "deploy/ceoline.service is stale: regenerate it (README)"
    found = keys(shipped)
    for key, value in HARDENING.items():
        assert value in found.get(key, []), (key, found.get(key))
    assert "Environment=CEOLINE_CONFIG=/etc/ceoline/ceoline.toml" in shipped
    # The GPU box's unit opens the NVIDIA devices and no others.
    assert "DevicePolicy=closed" in shipped and "char-nvidia-uvm rw" in found["DeviceAllow"]


def test_systemd_verifies_the_unit_and_rates_it_well_hardened(tmp_path):
    # verify checks that ExecStart exists, so the unit points at this checkout's venv.
    config = make_config(tmp_path)
    unit = tmp_path / "ceoline.service"
    unit.write_text(serve_unit(load_config(config), config, prefix=ROOT))
    assert "PrivateDevices=yes" in unit.read_text()  # a CPU box needs no device at all
    tool = systemd_analyze()
    verify = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run(
        [tool, "security", "--offline=yes", str(unit)], capture_output=True, text=True
    )
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert exposure, security.stdout[-2000:] + security.stderr
    print(f"\nsystemd-analyze security: exposure {exposure.group(1)}")
    assert float(exposure.group(1)) <= 2.0


def test_allowed_addresses_are_loopback_the_trunk_and_the_registrar(tmp_path):
    config = load_config(
        make_config(
            tmp_path,
            sip={
                "allow": ["127.0.0.0/8", "10.20.0.10", "192.0.2.0/24"],
                "registration": {"registrar": "sip:198.51.100.7:5060", "user": "hotline"},
            },
        )
    )
    assert allowed_addresses(config) == [
        "localhost",
        "10.20.0.10/32",
        "192.0.2.0/24",
        "198.51.100.7/32",
    ]
    assert allowed_addresses(config, ("203.0.113.9",))[-2] == "203.0.113.9/32"
    result = CliRunner().invoke(
        app, ["service", "unit", "--config", str(make_config(tmp_path)), "--allow", "nope"]
    )
    assert result.exit_code != 0 and "--allow" in str(result.exception)


def test_the_unit_allows_exactly_the_webhook_destinations(tmp_path, monkeypatch):
    hooks = [
        {"name": "tracker", "url": "https://10.30.0.7/api/v4/projects/3/issues",
         "format": "gitlab", "events": ["item.created"]},
        {"name": "chat", "url": "http://127.0.0.1:8065/hooks/abc", "format": "chat",
         "events": ["call.summarised"]},
    ]  # fmt: skip
    config = load_config(make_config(tmp_path, webhooks=hooks))
    allow = allowed_addresses(config)
    assert "10.30.0.7/32" in allow and allow.count("localhost") == 1
    unit = serve_unit(config, tmp_path / "ceoline.toml")
    assert "10.30.0.7/32" in keys(unit)["IPAddressAllow"][0]
    named = load_config(
        make_config(tmp_path, webhooks=[{**hooks[1], "url": "http://chat.internal/hooks/abc"}])
    )

    def unknown(*args, **kwargs):
        raise OSError("no such name")

    # A name that does not resolve is a clear error, never a unit that allows nothing.
    monkeypatch.setattr("socket.getaddrinfo", unknown)
    with pytest.raises(ConfigError, match=r"cannot resolve 'chat\.internal'"):
        allowed_addresses(named)
