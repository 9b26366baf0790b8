"""Q3: what is easy and what is hard to compute, chapter 3's results, one module per concept.

``setting``: the model, the middle pixel, the questions (d) and (g) with their images and known pixels.
Computed and cached, by method family: ``quantities``: (a)-(g), one method each, and the held-out check;
``importance``: importance sampling with the reverse model, the (d) samplers over seeds (plain and
Rao-Blackwellised) and the (g) pools; ``mcmc_runs``: the single-site and the block-move chains from three
starts; ``tempering_runs``: tempering from the prior (``smc``); ``scores``: the forward model's judgement of
their images; ``explorer``: (c)-(g) for any test image. On tiny models: ``validation`` (every approximation
against enumeration) and ``tiny_mcmc`` (the chains, the block moves and tempering).
Read: ``comparison``: the first methods side by side; ``mcmc_reading``, ``tempering_reading``: what the chains
and the tempering runs say; ``answer_b``, ``answer_d``, ``answer_g``: the findings and the answer of each hard
item; ``cost``: what each method costs; ``formatting``: table and prose helpers. ``claims``, ``claims_d``,
``claims_g``: the chapter's claims, checked on its findings.
"""
