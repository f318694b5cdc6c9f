"""A pjsip module that sees every SIP request before any other layer does.

It enforces two rules that must hold before pjsua allocates anything:

* **Who may talk**: requests from sources outside the allowlist are dropped (or answered
  403), whatever the method, so a scanner learns the same nothing from every probe.
* **Capacity**: a new INVITE beyond ``max_calls`` (or during shutdown) is answered 503 with
  Retry-After at once, statelessly, so pjsua's own call table can never fill up.

pjsua2 has no hook for either, so the module is registered with ctypes against the pjsip C
API that the pjsua2 extension exports. The one struct read here, ``pjsip_rx_data``, has a
packet buffer whose size (``PJSIP_MAX_PKT_LEN``) is a build option; its offset is therefore
calibrated on the first request and every read is cross-checked. Any doubt fails closed: the
request is dropped and an error logged.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ceoline.sip.allowlist import Allowlist
from ceoline.sip.sdp import prefer_codecs

log = logging.getLogger(__name__)

# pjsip_rx_data: tp_info {pool, transport, tp_data, op_key{pj_ioqueue_op_key_t (34 ptrs),
# rdata}} then pkt_info {timestamp (2 longs), packet[PJSIP_MAX_PKT_LEN], zero, len, ...}.
_PTR = ctypes.sizeof(ctypes.c_void_p)
_PACKET_OFFSET = 3 * _PTR + (34 + 1) * _PTR + 2 * ctypes.sizeof(ctypes.c_long)
_PKT_LEN_CANDIDATES = (4000, 2000, 8000, 1500, 3000, 6000, 16000, 32000, 65536)
# PJSIP_MOD_PRIORITY_TSX_LAYER is 16: below it, retransmissions and CANCELs are seen too.
_PRIORITY = 15
_SIP_ADDR_STRLEN = 46  # PJ_INET6_ADDRSTRLEN
# Far more than the INVITEs that can be retransmitted at once (Timer B is 32 s).
ADMITTED_MEMORY = 4096


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


_RX_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class _PjsipModule(ctypes.Structure):
    _fields_ = [
        ("prev", ctypes.c_void_p),
        ("next", ctypes.c_void_p),
        ("name", _PjStr),
        ("id", ctypes.c_int),
        ("priority", ctypes.c_int),
        ("load", ctypes.c_void_p),
        ("start", ctypes.c_void_p),
        ("stop", ctypes.c_void_p),
        ("unload", ctypes.c_void_p),
        ("on_rx_request", _RX_CALLBACK),
        ("on_rx_response", ctypes.c_void_p),
        ("on_tx_request", ctypes.c_void_p),
        ("on_tx_response", ctypes.c_void_p),
        ("on_tsx_state", ctypes.c_void_p),
    ]


class _Layout:
    """Offsets inside pjsip_rx_data, derived from the packet buffer size."""

    def __init__(self, pkt_len: int):
        self.pkt_len = pkt_len
        self.len = _align(_PACKET_OFFSET + pkt_len + 4, 8)
        self.src_name = self.len + 8 + 28 + 4  # after len, pj_sockaddr, src_addr_len
        self.src_port = _align(self.src_name + _SIP_ADDR_STRLEN, 4)
        self.msg_buf = _align(self.src_port + 4, _PTR)
        self.msg_len = self.msg_buf + _PTR


def pjsua_library() -> ctypes.CDLL:
    import pjsua2

    return ctypes.CDLL(pjsua2._load_bindings()._pjsua2.__file__)


class RequestGuard:
    def __init__(
        self,
        allowlist: Allowlist,
        reject: str,
        max_calls: int,
        retry_after_s: int,
        call_count: Callable[[], int] | None = None,
        codec_preference: list[tuple[str, int]] | None = None,
    ):
        self.codec_preference = codec_preference or []
        self.allowlist = allowlist
        self.reject = reject
        self.max_calls = max_calls
        self.retry_after_s = retry_after_s
        self.accepting = True
        self.dropped = 0
        self.refused_busy = 0
        self._lib = pjsua_library()
        self._lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
        self._lib.pjsip_generic_string_hdr_create.restype = ctypes.c_void_p
        self._lib.pjsip_generic_string_hdr_create.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(_PjStr),
            ctypes.POINTER(_PjStr),
        ]
        self._lib.pjsip_endpt_respond_stateless.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._call_count = call_count or self._lib.pjsua_call_get_count
        self._layout: _Layout | None = None
        # INVITEs let through, by (Call-ID, Via branch): their retransmissions must pass too.
        self._admitted: OrderedDict[tuple[bytes, bytes], None] = OrderedDict()
        self._last_drop_log = 0.0
        self._lock = threading.Lock()
        self._callback = _RX_CALLBACK(self._on_rx_request)
        self._name = b"mod-ceoline-guard"
        self._module = _PjsipModule()
        self._module.name = _PjStr(self._name, len(self._name))
        self._module.id = -1
        self._module.priority = _PRIORITY
        self._module.on_rx_request = self._callback
        self._endpt: int | None = None

    def register(self) -> None:
        self._endpt = self._lib.pjsua_get_pjsip_endpt()
        status = self._lib.pjsip_endpt_register_module(
            ctypes.c_void_p(self._endpt), ctypes.byref(self._module)
        )
        if status != 0:
            raise RuntimeError(f"cannot register the SIP request guard (pj status {status})")

    def unregister(self) -> None:
        if self._endpt is not None:
            self._lib.pjsip_endpt_unregister_module(
                ctypes.c_void_p(self._endpt), ctypes.byref(self._module)
            )
            self._endpt = None

    # -- reading pjsip_rx_data --------------------------------------------------------------

    @staticmethod
    def _read_ssize(address: int) -> int:
        return ctypes.c_ssize_t.from_address(address).value

    def _calibrate(self, rdata: int) -> _Layout | None:
        packet = ctypes.string_at(rdata + _PACKET_OFFSET)
        for pkt_len in _PKT_LEN_CANDIDATES:
            if len(packet) > pkt_len:
                continue
            layout = _Layout(pkt_len)
            if self._read_ssize(rdata + layout.len) == len(packet) and self._check(rdata, layout):
                log.debug("pjsip_rx_data packet buffer is %d bytes", pkt_len)
                return layout
        return None

    def _check(self, rdata: int, layout: _Layout) -> bool:
        length = self._read_ssize(rdata + layout.len)
        if not 0 < length <= layout.pkt_len:
            return False
        port = ctypes.c_int.from_address(rdata + layout.src_port).value
        if not 0 < port < 65536:
            return False
        try:
            ipaddress.ip_address(self._source(rdata, layout))
        except ValueError:
            return False
        msg_buf = ctypes.c_void_p.from_address(rdata + layout.msg_buf).value or 0
        msg_len = ctypes.c_int.from_address(rdata + layout.msg_len).value
        start = rdata + _PACKET_OFFSET
        return start <= msg_buf and msg_buf + msg_len <= start + length and msg_len > 0

    @staticmethod
    def _source(rdata: int, layout: _Layout) -> str:
        raw = ctypes.string_at(rdata + layout.src_name, _SIP_ADDR_STRLEN)
        return raw.split(b"\0", 1)[0].decode("ascii", "replace")

    @staticmethod
    def _message(rdata: int, layout: _Layout) -> bytes:
        msg_buf = ctypes.c_void_p.from_address(rdata + layout.msg_buf).value
        msg_len = ctypes.c_int.from_address(rdata + layout.msg_len).value
        return ctypes.string_at(msg_buf, msg_len)

    # -- the rules -------------------------------------------------------------------------

    def _on_rx_request(self, rdata: int) -> int:
        try:
            return int(self._decide(rdata))
        except Exception:  # an exception must never unwind into pjsip
            log.exception("SIP request guard failed; request dropped")
            return 1

    def _decide(self, rdata: int) -> bool:
        """True when the request is handled here (dropped or answered)."""
        with self._lock:
            if self._layout is None:
                self._layout = self._calibrate(rdata)
                if self._layout is None:
                    log.error("cannot read the source of a SIP request; dropping it")
                    return True
            layout = self._layout
        if not self._check(rdata, layout):
            log.error("SIP request buffer failed its consistency check; dropping it")
            return True
        source = self._source(rdata, layout)
        message = self._message(rdata, layout)
        method = message.split(b" ", 1)[0]
        if not self.allowlist.allows(source):
            self.dropped += 1
            self._log_drop(source, method)
            if self.reject == "403" and method != b"ACK":
                self._respond(rdata, 403, "Forbidden")
            return True
        if method == b"INVITE" and not _has_to_tag(message):
            key = _transaction_key(message)
            if key in self._admitted:
                return False  # a retransmission: the transaction layer answers it
            self._prefer_our_codecs(rdata, layout, message)
            if not self.accepting or self._call_count() >= self.max_calls:
                self.refused_busy += 1
                reason = "shutting down" if not self.accepting else "at capacity"
                log.info("event=call.refused source=%s reason=%r status=503", source, reason)
                self._respond(
                    rdata, 503, "Service Unavailable", ("Retry-After", str(self.retry_after_s))
                )
                return True
            self._admitted[key] = None
            while len(self._admitted) > ADMITTED_MEMORY:
                self._admitted.popitem(last=False)
        return False

    def invite_branch(self, call_id: str) -> str | None:
        """The Via branch of the INVITE let through for ``call_id`` (its transaction's key)."""
        wanted = call_id.encode()
        with self._lock:
            for admitted_call_id, branch in reversed(self._admitted):
                if admitted_call_id == wanted:
                    return branch.decode("ascii", "replace")
        return None

    def _prefer_our_codecs(self, rdata: int, layout: _Layout, message: bytes) -> None:
        if not self.codec_preference:
            return
        split = message.find(b"\r\n\r\n")
        if split < 0:
            return
        body = message[split + 4 :]
        reordered = prefer_codecs(body, self.codec_preference)
        if reordered != body and len(reordered) == len(body):
            msg_buf = ctypes.c_void_p.from_address(rdata + layout.msg_buf).value
            ctypes.memmove(msg_buf + split + 4, reordered, len(reordered))

    def _log_drop(self, source: str, method: bytes) -> None:
        # A scan can send thousands of requests: one line per 10 s, with the running count.
        now = time.monotonic()
        if now - self._last_drop_log >= 10:
            self._last_drop_log = now
            log.warning(
                "event=sip.dropped source=%s method=%s dropped_total=%d (not in [sip] allow)",
                source,
                method.decode("ascii", "replace")[:16],
                self.dropped,
            )

    def _respond(
        self, rdata: int, status: int, reason: str, header: tuple[str, str] | None = None
    ) -> None:
        reason_b = reason.encode()
        text = _PjStr(reason_b, len(reason_b))
        head = None
        if header is not None:
            pool = ctypes.c_void_p.from_address(rdata).value
            name_b, value_b = header[0].encode(), header[1].encode()
            hdr = self._lib.pjsip_generic_string_hdr_create(
                ctypes.c_void_p(pool),
                ctypes.byref(_PjStr(name_b, len(name_b))),
                ctypes.byref(_PjStr(value_b, len(value_b))),
            )
            if hdr:
                # A pjsip_hdr list head is a sentinel header whose prev/next link the list.
                head = (ctypes.c_void_p * 8)()
                head_addr = ctypes.addressof(head)
                head[0] = head[1] = hdr
                ctypes.c_void_p.from_address(hdr).value = head_addr
                ctypes.c_void_p.from_address(hdr + _PTR).value = head_addr
        self._lib.pjsip_endpt_respond_stateless(
            ctypes.c_void_p(self._endpt),
            ctypes.c_void_p(rdata),
            status,
            ctypes.addressof(text),
            ctypes.addressof(head) if head is not None else None,
            None,
        )


def _headers(message: bytes) -> list[tuple[bytes, bytes]]:
    headers = []
    for line in message.split(b"\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    return headers


def _has_to_tag(message: bytes) -> bool:
    for name, value in _headers(message):
        if name in (b"to", b"t"):
            return b";tag=" in value.replace(b" ", b"").lower()
    return False


def _transaction_key(message: bytes) -> tuple[bytes, bytes]:
    """(Call-ID, top Via branch): what an INVITE and its retransmissions share."""
    call_id = branch = b""
    for name, value in _headers(message):
        if name in (b"call-id", b"i") and not call_id:
            call_id = value
        elif name in (b"via", b"v") and not branch:
            for param in value.split(b",", 1)[0].split(b";")[1:]:
                key, _, val = param.partition(b"=")
                if key.strip().lower() == b"branch":
                    branch = val.strip()
    return call_id, branch
