"""Hanabi: ``engine.py`` (the rules), ``env.py`` (the text AEC env), ``rule_agent.py``."""
