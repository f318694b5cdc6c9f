"""More callers than one process holds: N SIP workers behind Kamailio.

pjsua holds a few calls per process (``PJSUA_MAX_CALLS``) and one endpoint per process, so a
box takes more calls by running more worker processes. Kamailio, the SIP proxy carriers run,
listens on ``[sip] address:port`` and sends each new call to the least-loaded live worker;
ceoline writes its configuration from ``[cluster]`` and ``[sip]``, starts it, and supervises
the workers.

May import: the core (config, errors, store, retention) and ``web`` (the supervisor serves
the box's dashboard). Never the voice loop, the models or pjsua: the supervisor stays small
and starts workers as ``ceoline serve --worker I``.
"""
