"""The internal dashboard served by `ceoline dashboard` (and by `ceoline serve`).

May import: the core modules, insights (the item vocabulary) and voice.timings (the stage
names it charts). Never the rest of the voice loop, trust, persona, sip, admin or the CLI.
"""

from ceoline.web.app import create_app, serve_in_thread

__all__ = ["create_app", "serve_in_thread"]
