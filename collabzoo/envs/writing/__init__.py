"""The writing tasks of the MAGRPO paper: two LLMs write complementary texts.

- ``collabzoo/TLDR-v1`` (:mod:`collabzoo.envs.writing.tldr`): a concise and a detailed
  summary of one Reddit post.
- ``collabzoo/ArxivExpansion-v1`` (:mod:`collabzoo.envs.writing.arxiv`): the background and
  the method part of an introduction expanded from a paper abstract.

Their joint rewards are pure functions in :mod:`collabzoo.envs.writing.rewards`
(``tldr_reward``, ``arxiv_reward``); :mod:`collabzoo.envs.writing.base` holds what the two
envs share. Nothing is imported here, so ``import collabzoo.envs.writing`` stays cheap.
"""
