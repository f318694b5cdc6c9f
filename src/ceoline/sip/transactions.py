"""Ending an answered INVITE whose ACK never came, at once.

pjsip keeps such a call for 32 s of 200 OK retransmissions, then sends BYE and waits up to
another 32 s for its answer (RFC 3261 13.3.1.4, 17.1.2.2), and pjsua's call slot stays taken
the whole time. pjsua2 has no call for "give up now", so the INVITE server transaction is
looked up by its key and its session terminated through the pjsip C API that the pjsua2
extension exports, as the request guard does.

Only the SIP thread may call this: it is the thread that polls pjsip, so the transaction
cannot be destroyed between the lookup and the termination.
"""

from __future__ import annotations

import ctypes

from ceoline.sip.guard import _PjStr, pjsua_library

# RFC 3261 branches start with the magic cookie; pjsip keys their server transactions
# "s$<branch>" (role, separator, branch; the method is left out for INVITE).
_MAGIC_COOKIE = "z9hG4bK"
REQUEST_TIMEOUT = 408

_api: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL:
    global _api
    if _api is None:
        lib = pjsua_library()
        lib.pjsip_tsx_layer_find_tsx.restype = ctypes.c_void_p
        lib.pjsip_tsx_layer_find_tsx.argtypes = [ctypes.POINTER(_PjStr), ctypes.c_int]
        lib.pjsip_tsx_get_dlg.restype = ctypes.c_void_p
        lib.pjsip_tsx_get_dlg.argtypes = [ctypes.c_void_p]
        lib.pjsip_dlg_get_inv_session.restype = ctypes.c_void_p
        lib.pjsip_dlg_get_inv_session.argtypes = [ctypes.c_void_p]
        lib.pjsip_inv_terminate.restype = ctypes.c_int
        lib.pjsip_inv_terminate.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        _api = lib
    return _api


def terminate_unacknowledged(branch: str | None) -> bool:
    """End the INVITE session whose server transaction has ``branch``: no more 200 OK
    retransmissions, no BYE (the caller never confirmed the dialog), the call slot freed.
    pjsua reports the call disconnected with 408. False when there is no such transaction
    (an RFC 2543 caller without a branch, or one already gone): hang up the usual way."""
    if not branch or not branch.startswith(_MAGIC_COOKIE):
        return False
    lib = _library()
    raw = f"s${branch}".encode()
    key = _PjStr(raw, len(raw))
    tsx = lib.pjsip_tsx_layer_find_tsx(ctypes.byref(key), 0)
    if not tsx:
        return False
    dialog = lib.pjsip_tsx_get_dlg(tsx)
    if not dialog:
        return False
    session = lib.pjsip_dlg_get_inv_session(dialog)
    if not session:
        return False
    return lib.pjsip_inv_terminate(session, REQUEST_TIMEOUT, 1) == 0
