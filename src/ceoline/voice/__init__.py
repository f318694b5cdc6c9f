"""The voice loop: caller audio in, the persona's voice out, 20 ms at a time.

A call's frames travel audio → endpointing → stt → (trust's dialogue policy) → llm → chunker →
tts → the bot's frames, with bargein and the lifecycle (greeting, silence, goodbye) around
them; conversation holds one call's loop, simulate drives it from a WAV without SIP, and
timings records every stage per turn.

May import: the core modules (config, errors, locator, store, …), trust (the rules the loop
applies) and persona.profile. Never sip, web, insights, admin or the CLI: a transport drives
the loop, the loop never knows which.
"""
