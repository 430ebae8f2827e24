"""The core layer: errors, settings, prompt templates, async helpers and shared ids.

Everything in ``agentforge`` may import from here; nothing here imports any other part of
``agentforge``.
"""
