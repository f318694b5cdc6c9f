"""Opening hours for handing a caller to a person."""

from datetime import UTC, datetime

import pytest

from ceoline.config import parse_config_file
from ceoline.errors import ConfigError
from ceoline.hours import parse_hours

from .conftest import make_config


def test_hours_are_kept_in_the_lines_time_zone():
    hours = parse_hours("mon-fri 08:00-17:00; sat 10:00-14:00", "Europe/Stockholm")
    # Friday 5 December 2026: 07:30 UTC is 08:30 in Stockholm, 16:30 UTC is 17:30.
    assert hours.open_at(datetime(2026, 12, 4, 7, 30, tzinfo=UTC))
    assert not hours.open_at(datetime(2026, 12, 4, 16, 30, tzinfo=UTC))
    assert hours.open_at(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))  # Saturday
    assert not hours.open_at(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))  # Sunday
    assert parse_hours("").open_at() and parse_hours("sun 00:00-24:00").open_at(
        datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("hours", "timezone", "message"),
    [
        ("weekdays 9-5", "UTC", r"'weekdays 9-5' is not DAYS HH:MM-HH:MM"),
        ("mon-fri 17:00-08:00", "UTC", "closes before it opens"),
        ("fri-mon 08:00-17:00", "UTC", "runs backwards"),
        ("mon 25:00-26:00", "UTC", "hours run 00:00 to 24:00"),
        ("mon-fri 08:00-17:00", "Europe/Gothenburg", "unknown time zone 'Europe/Gothenburg'"),
    ],
)
def test_bad_hours_are_a_config_error_naming_the_line(tmp_path, hours, timezone, message):
    line = {"name": "se", "number": "hotline-se", "handoff_hours": hours, "timezone": timezone}
    with pytest.raises(ConfigError, match=rf"\[\[lines\]\] se handoff hours: .*{message}"):
        parse_config_file(make_config(tmp_path, lines=[line]))
