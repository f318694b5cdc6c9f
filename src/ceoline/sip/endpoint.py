"""Building the pjsua2 endpoint from ``[sip]``: transports, media, codecs, the account.

Everything is pinned to the configured address: SIP transports bind to it and publish it in
Via/Contact, and RTP binds to it and advertises it in the SDP ``c=`` line. Left alone, pjsua
advertises the host's default-route address even when bound to another interface.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pjsua2 as pj

from ceoline.config import Config, RegistrationConfig, SipConfig
from ceoline.errors import ConfigError, SipError
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE

log = logging.getLogger(__name__)
pjlog = logging.getLogger("ceoline.pjsip")


ASK_MAX_CALLS = 1000


class PjLogWriter(pj.LogWriter):
    """pjsip's own log, routed into Python logging (any thread may call it)."""

    def write(self, entry: pj.LogEntry) -> None:
        level = logging.ERROR if entry.level <= 1 else logging.WARNING if entry.level == 2 else 5
        pjlog.log(level if entry.level <= 2 else logging.DEBUG, entry.msg.rstrip())


@dataclass(frozen=True)
class Listening:
    transports: tuple[str, ...]  # "udp 127.0.0.1:5060", ...
    rtp: str
    uri: str


def quiet_pjlib() -> None:
    """pjlib logs to stdout from libCreate on, before any log config applies; mute that."""
    from ceoline.sip.guard import pjsua_library

    pjsua_library().pj_log_set_level(1 if not pjlog.isEnabledFor(logging.DEBUG) else 5)


def pj_error(exc: pj.Error) -> str:
    return (exc.reason or exc.info() or "error").strip()


def _hostport(address: str, port: int) -> str:
    return f"{address}:{port}"


def endpoint_config(config: Config, writer: pj.LogWriter) -> pj.EpConfig:
    sip = config.sip
    ep_cfg = pj.EpConfig()
    ua = ep_cfg.uaConfig
    # All SIP work happens on the thread that polls libHandleEvents: no pjsip worker threads,
    # so SIP callbacks never race each other or the server's own bookkeeping.
    ua.threadCnt = 0
    ua.mainThreadOnly = False
    # pjsua clamps this to its compiled table size (PJSUA_MAX_CALLS), which the server
    # then reads back; the request guard keeps calls at [sip] max_calls, below it.
    ua.maxCalls = ASK_MAX_CALLS
    ua.userAgent = sip.user_agent
    logc = ep_cfg.logConfig
    logc.writer = writer
    debug = pjlog.isEnabledFor(logging.DEBUG)
    logc.level = logc.consoleLevel = 5 if debug else 2
    logc.msgLogging = 1 if debug else 0
    med = ep_cfg.medConfig
    med.clockRate = SAMPLE_RATE
    med.sndClockRate = SAMPLE_RATE
    med.audioFramePtime = FRAME_MS
    med.ptime = FRAME_MS
    med.channelCount = 1
    # Silence must still be sent as audio frames; there is no sound device to echo-cancel.
    med.noVad = True
    med.ecTailLen = 0
    cap_jitter_buffer(med, sip.jitter_buffer_max_ms)
    return ep_cfg


def cap_jitter_buffer(med: pj.MediaConfig, max_ms: int) -> None:
    """pjmedia's adaptive jitter buffer may otherwise grow to 500 ms after a burst of late
    packets and stay there: caller speech then reaches barge-in detection that much later."""
    med.jbMax = max_ms
    med.jbMaxPre = max(FRAME_MS, max_ms * 4 // 5)


def create_transports(ep: pj.Endpoint, sip: SipConfig) -> list[str]:
    kinds = []
    if sip.udp:
        kinds.append(("udp", pj.PJSIP_TRANSPORT_UDP))
    if sip.tcp:
        kinds.append(("tcp", pj.PJSIP_TRANSPORT_TCP))
    made = []
    for name, kind in kinds:
        tc = pj.TransportConfig()
        tc.port = sip.port
        tc.boundAddress = sip.address
        tc.publicAddress = sip.address
        try:
            ep.transportCreate(kind, tc)
        except pj.Error as exc:
            raise SipError(
                f"cannot listen for SIP on {name} {_hostport(sip.address, sip.port)} "
                f"({pj_error(exc)}); stop whatever holds that port or change [sip] address/port"
            ) from None
        made.append(f"{name} {_hostport(sip.address, sip.port)}")
    return made


def set_codecs(ep: pj.Endpoint, wanted: tuple[str, ...]) -> list[str]:
    """Enable exactly ``wanted``, in that order of preference; disable every other codec."""
    available = {c.codecId: c for c in ep.codecEnum2()}
    chosen = []
    for name in wanted:
        match = [cid for cid in available if cid.lower().startswith(name.lower() + "/")]
        match = match or [cid for cid in available if cid.lower() == name.lower()]
        if not match:
            raise ConfigError(
                f"[sip] codecs: {name!r} is not available; this build has "
                f"{', '.join(sorted(available))}"
            )
        chosen.append(match[0])
    for cid in available:
        ep.codecSetPriority(cid, 0)
    for rank, cid in enumerate(chosen):
        ep.codecSetPriority(cid, 255 - rank)
    return chosen


def read_password(reg: RegistrationConfig, config: Config) -> str:
    if reg.password_file:
        path = config.path(reg.password_file)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"[sip.registration] password_file {path} cannot be read ({exc.strerror}); "
                "create it (mode 600) with the password on its first line"
            ) from None
        password = text.splitlines()[0].strip() if text.strip() else ""
        where = f"password_file {path}"
    else:
        password = os.environ.get(reg.password_env, "")
        where = f"environment variable {reg.password_env}"
    if not password:
        raise ConfigError(
            f"[sip.registration] needs a password but {where} is empty; set it (the password "
            "never goes in the config file)"
        )
    return password


def account_config(config: Config) -> tuple[pj.AccountConfig, str]:
    sip = config.sip
    reg = sip.registration
    acc = pj.AccountConfig()
    host = _hostport(sip.address, sip.port)
    if reg.registrar:
        domain = reg.domain or reg.registrar.split(":", 1)[1].split(";", 1)[0]
        acc.idUri = f"sip:{reg.user}@{domain}"
        acc.regConfig.registrarUri = reg.registrar
        acc.regConfig.timeoutSec = reg.expires_s
        acc.regConfig.registerOnAdd = True
        password = read_password(reg, config)
        acc.sipConfig.authCreds.append(pj.AuthCredInfo("digest", reg.realm, reg.user, 0, password))
        del password
    else:
        acc.idUri = f"sip:hotline@{host}"
    # The address is fixed by config: no rewriting of Contact, Via or SDP from what a peer
    # claims to see, which could otherwise point media at another interface.
    nat = acc.natConfig
    nat.contactRewriteUse = 0
    nat.viaRewriteUse = 0
    nat.sdpNatRewriteUse = 0
    nat.sipOutboundUse = 0
    nat.iceEnabled = False
    media = acc.mediaConfig.transportConfig
    media.boundAddress = sip.rtp_address
    media.publicAddress = sip.rtp_address
    media.port = sip.rtp_port
    media.portRange = sip.rtp_port_range
    return acc, f"sip:hotline@{host}"
