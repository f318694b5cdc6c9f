"""The internal dashboard served by `ceoline dashboard`."""

from ceoline.web.app import create_app

__all__ = ["create_app"]
