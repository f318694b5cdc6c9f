"""Codec preference for offers we answer.

pjmedia's answerer follows the offerer's codec order (PJMEDIA_SDP_NEG_PREFER_REMOTE_CODEC_ORDER
is on in the wheel and pjsua2 exposes no switch), so a trunk that lists PCMU first would
never get G.722 even when both sides have it. :func:`prefer_codecs` reorders the payload
types of an offer's ``m=audio`` line to our preference before pjsua reads it. The result has
exactly the same length, so it can be written back into the received buffer in place.
"""

from __future__ import annotations

# RFC 3551 static payload types.
STATIC_PAYLOADS = {
    "0": ("pcmu", 8000),
    "3": ("gsm", 8000),
    "8": ("pcma", 8000),
    "9": ("g722", 8000),  # G.722's RTP clock is 8000 by RFC 3551, its audio 16 kHz
    "18": ("g729", 8000),
}


def _codec_key(name: str, rate: int) -> tuple[str, int]:
    name = name.lower()
    return (name, 8000) if name == "g722" else (name, rate)


def prefer_codecs(sdp: bytes, preference: list[tuple[str, int]]) -> bytes:
    """Reorder the first ``m=audio`` line's formats: ours first, in our order, then the rest."""
    rank = {_codec_key(n, r): i for i, (n, r) in enumerate(preference)}
    lines = sdp.split(b"\n")
    rtpmap: dict[str, tuple[str, int]] = {}
    for line in lines:
        if line.startswith(b"a=rtpmap:"):
            try:
                pt, _, enc = line[9:].strip().decode("ascii").partition(" ")
                name, rate = enc.split("/")[:2]
                rtpmap[pt] = (name.lower(), int(rate))
            except (UnicodeDecodeError, ValueError):
                continue
    for index, line in enumerate(lines):
        if not line.startswith(b"m=audio "):
            continue
        ending = b"\r" if line.endswith(b"\r") else b""
        fields = line[: len(line) - len(ending)].split(b" ")
        if len(fields) < 4:
            return sdp
        head, formats = fields[:3], fields[3:]

        def order(pt: bytes) -> int:
            key = rtpmap.get(pt.decode("ascii", "replace")) or STATIC_PAYLOADS.get(
                pt.decode("ascii", "replace")
            )
            if key is None:
                return len(rank)
            return rank.get(_codec_key(*key), len(rank))

        ordered = sorted(formats, key=order)  # stable: the offer's order among equals
        if ordered == formats:
            return sdp
        lines[index] = b" ".join(head + ordered) + ending
        return b"\n".join(lines)
    return sdp
