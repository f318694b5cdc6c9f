from ceoline.sip.sdp import prefer_codecs

PREFERENCE = [("G722", 16000), ("PCMU", 8000), ("PCMA", 8000)]

OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 8 96 9 101\r\n"
    b"a=rtpmap:96 opus/48000/2\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def test_our_codecs_come_first_in_our_order_and_length_is_kept():
    out = prefer_codecs(OFFER, PREFERENCE)
    assert b"m=audio 4000 RTP/AVP 9 0 8 96 101\r\n" in out
    assert len(out) == len(OFFER)
    assert out.replace(b"9 0 8 96 101", b"0 8 96 9 101") == OFFER


def test_static_payloads_without_rtpmap_are_recognised():
    sdp = b"v=0\r\nm=audio 4000 RTP/AVP 8 0\r\n"
    assert prefer_codecs(sdp, PREFERENCE) == b"v=0\r\nm=audio 4000 RTP/AVP 0 8\r\n"


def test_already_in_order_or_unknown_is_unchanged():
    sdp = b"v=0\r\nm=audio 4000 RTP/AVP 9 0\r\n"
    assert prefer_codecs(sdp, PREFERENCE) is sdp
    odd = b"v=0\r\nm=audio 4000 RTP/AVP 18 96\r\na=rtpmap:96 opus/48000/2\r\n"
    assert prefer_codecs(odd, PREFERENCE) is odd


def test_malformed_sdp_is_left_alone():
    for sdp in (b"", b"garbage", b"m=audio\r\n", b"m=audio 1 RTP/AVP\r\na=rtpmap:\xff\r\n"):
        assert prefer_codecs(sdp, PREFERENCE) == sdp
