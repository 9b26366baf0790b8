"""The report: figures (``plots``, ``plots_mcmc``), the code of each answer (``listing``), the interactive explorer
(``explorer``, ``explorer_panel``), the notebook (``notebook``, ``submission``) and the build (``build``).
"""
