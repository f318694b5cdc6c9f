"""The SIP side: a pjsua2 user agent that puts the voice loop on real phone calls."""
