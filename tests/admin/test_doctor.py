from ceoline.admin.doctor import _line_checks
from ceoline.config import parse_config_file

from ..conftest import make_config


def test_doctor_shows_each_line_and_names_a_broken_one(tmp_path):
    lines = [{"name": "us", "number": "hotline", "dids": ["+15550100"]}]
    checks = _line_checks(parse_config_file(make_config(tmp_path, lines=lines)))
    assert [(c.name, c.ok) for c in checks] == [("line us", True)]
    assert checks[0].detail.startswith("hotline, +15550100 → Theo Marchetti, Quillfern (en, ")
    assert ", model replies)" in checks[0].detail
    swedish = {"name": "se", "number": "hotline-se", "language": "sv", "stt": "base",
               "voice": "espeak-ng:sv"}  # fmt: skip
    _, se = _line_checks(parse_config_file(make_config(tmp_path, lines=[*lines, swedish])))
    assert se.ok and "(sv, Whisper base, voice espeak-ng:sv, no model replies" in se.detail
    broken = [*lines, {"name": "se", "number": "hotline-se", "knowledge": "nowhere"}]
    (check,) = _line_checks(parse_config_file(make_config(tmp_path, lines=broken)))
    assert not check.ok and check.detail.startswith("line 'se': ")
    assert "knowledge directory not found" in check.detail
