"""Chapter 1 (Q1, the PixelCNN without gates): ``tables`` (its tables and figure data), ``search`` (the
configuration search and the batch study: findings and claims), ``training_runs`` (the runs of the chosen
configuration), ``gates`` (what dropping the gates buys).
"""
