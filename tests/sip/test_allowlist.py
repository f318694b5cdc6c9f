import pytest

from ceoline.sip.allowlist import Allowlist, host_of


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("10.1.2.3:5060", "10.1.2.3"),
        ("10.1.2.3", "10.1.2.3"),
        ("[::1]:5060", "::1"),
        ("::1", "::1"),
        (" 192.0.2.1:1 ", "192.0.2.1"),
    ],
)
def test_host_of(address, host):
    assert host_of(address) == host


def test_cidrs_single_hosts_and_ports():
    allow = Allowlist(["10.20.0.0/16", "192.0.2.7", "::1/128"])
    assert allow.allows("10.20.99.1:5060")
    assert allow.allows("192.0.2.7:40000")
    assert allow.allows("[::1]:5060")
    assert not allow.allows("10.21.0.1:5060")
    assert not allow.allows("192.0.2.8")


def test_v4_mapped_v6_is_judged_as_v4():
    assert Allowlist(["10.0.0.0/8"]).allows("[::ffff:10.1.1.1]:5060")


@pytest.mark.parametrize("junk", ["", "garbage", "999.1.1.1:5060", "[zz]:1", "1.2.3.4:x:y"])
def test_junk_is_refused(junk):
    assert not Allowlist(["0.0.0.0/0", "::/0"]).allows(junk)


def test_empty_allowlist_refuses_everyone():
    assert not Allowlist([]).allows("127.0.0.1:5060")
