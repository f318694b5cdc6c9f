"""Trust: the rules around the model, so the persona never says what it must not.

dialogue decides each caller turn (answer, hand over, refuse, say goodbye), guardrails check
both sides of the model, grounding and knowledge tie company answers to the notes, redaction
keeps personal data out of the store; guardrail_eval measures the guardrails on labelled
lines with the real model.

May import: the core modules and persona.profile. Never the voice loop, sip, web, insights,
admin or the CLI: the rules are plain text in, decisions out, and the loop hands them what
they need (the guardrail eval gets the reply path as a function).
"""
