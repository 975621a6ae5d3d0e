"""Turn-based games: PettingZoo AEC envs on pure-rules engines."""
