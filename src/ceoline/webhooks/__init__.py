"""Events delivered where product teams work: signed webhooks to trackers and chats.

Events go into the store's outbox in the transaction that makes them true (``events``); a
deliverer sends them with timeouts, retries and backoff, the same message id every time
(``deliverer``); each destination gets its own format (``formats``), Standard Webhooks'
signature for the standard one (``signing``). Only redacted text is ever in a payload.

May import: the core (config, store, errors). The insights worker takes its outbox rows as a
callable, so insights never import this package; ``sip`` and the CLI wire the two together.
"""
