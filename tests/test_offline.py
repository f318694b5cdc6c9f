import os
import socket

import pytest

import ceoline  # noqa: F401
from ceoline.offline import OFFLINE_ENV

from .conftest import NetworkBlocked


def test_model_hubs_are_disabled_on_import():
    for key, value in OFFLINE_ENV.items():
        assert os.environ[key] == value


def test_only_loopback_is_reachable():
    # UDP connect sends no packet, so this proves the guard without sending anything.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(NetworkBlocked):
        s.connect(("192.0.2.1", 9))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", 9))
