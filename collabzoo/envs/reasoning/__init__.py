"""Reasoning teams on reasoning-gym's procedural datasets (the optional ``reasoning`` extra).

Nothing here imports ``reasoning_gym`` until an env is made: :mod:`~collabzoo.envs.reasoning.gym`
imports it inside its functions.
"""
