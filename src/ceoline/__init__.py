"""ceoline: an on-prem AI CEO hotline.

Importing the package pins every model library to offline mode before any of them loads,
so no code path can reach a model hub from the call box.
"""

from ceoline import offline as _offline

_offline.enforce()

__version__ = "0.1.0"
