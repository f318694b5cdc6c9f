"""The persona: who the hotline speaks as, and the LoRA adapter that makes it sound so.

profile loads the persona (name, company, tone, system prompt) that every part reads; corpus
turns past remarks into chat examples, training fits the adapter, evaluation compares base
and adapter on held-out prompts, lora_gguf writes and checks llama.cpp adapter files.

May import: profile, only errors; the rest, the core modules, trust and the voice loop
(training prompts the model exactly as a call does). Never sip, web, insights, admin or the
CLI.
"""
