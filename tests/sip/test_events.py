from ceoline.sip.events import format_event


def test_plain_values_are_bare_and_none_is_left_out():
    line = format_event("call.answered", call="2026-abc", codec="G722/16000", x=None)
    assert line == "event=call.answered call=2026-abc codec=G722/16000"


def test_wire_values_are_quoted_so_they_cannot_forge_lines_or_fields():
    uri = '"Eve" <sip:eve@x>\nevent=call.ended reason=fake'
    line = format_event("call.incoming", caller=uri)
    assert "\n" not in line
    assert line.count("event=") == 2 and line.startswith('event=call.incoming caller="')


def test_floats_are_rounded():
    assert format_event("call.ended", duration_s=1.23456) == "event=call.ended duration_s=1.235"
