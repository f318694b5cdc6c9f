"""Admin tools behind the CLI: checks and measurements of a whole box.

doctor checks config, models, engines (smoke runs each in a child process), data and SIP;
bench measures the voice loop against a naive baseline.

May import anything but the CLI.
"""
