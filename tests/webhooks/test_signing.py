"""Standard Webhooks signing, checked by the spec's own library."""

import pytest
from standardwebhooks import Webhook

from ceoline.errors import ConfigError
from ceoline.webhooks.signing import headers, new_secret, read_secret


def test_our_signature_verifies_with_the_reference_library(tmp_path):
    import time

    secret = new_secret()
    path = tmp_path / "k"
    path.write_text(secret + "\n")
    body = b'{"type": "item.created", "timestamp": "2026-12-05T00:00:00Z", "data": {}}'
    signed = headers(read_secret(path), "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, signed)["type"] == "item.created"
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", signed)


@pytest.mark.parametrize(
    ("content", "why"),
    [("abc", "whsec_"), ("whsec_***", "base64"), ("whsec_YWJj", "shorter")],
)
def test_a_bad_secret_file_is_one_clear_error(tmp_path, content, why):
    path = tmp_path / "k"
    path.write_text(content)
    with pytest.raises(ConfigError, match=why):
        read_secret(path)
