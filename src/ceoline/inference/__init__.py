"""The shared inference service: one llama.cpp ``llama-server`` on loopback that every worker's
calls write their replies with (``[inference] mode = "shared"``).

``service`` starts and supervises the server process (start, health, restart with backoff,
stop), as the cluster supervises Kamailio; ``client`` is the reply model a call uses in its
place, with the same methods as the local one (``voice.llm.LanguageModel``).

May import: the core modules and voice.llm (the message type and the chat-template rules the
local model follows, so both read a caller's words the same way). Never trust, persona, sip,
web, insights, admin, cluster, webhooks or the CLI.
"""
