"""The SIP side: a pjsua2 user agent that puts the voice loop on real phone calls.

endpoint owns the pjsua2 library, guard and allowlist drop what may not call before any SIP
layer sees it, media moves 20 ms frames between pjmedia and the loop (bytes only: callback
threads never wait on inference), session runs one call, server answers and supervises them,
dialer is the scripted caller for tests and benchmarks.

May import: the core modules, the voice loop, insights (the server runs the worker between
calls) and web (the server serves the dashboard). Never admin or the CLI.
"""
