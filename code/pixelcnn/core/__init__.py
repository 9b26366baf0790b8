"""The core library: PixelCNN layers and models, exact sampling and inference, Monte Carlo and importance-sampling
estimators, MCMC (single-site and block moves), tempering (SMC) and their diagnostics.

It needs only torch and tqdm, and knows nothing of the data, the cache, the runs or the report: any autoregressive
model with the ``models.PixelCNNBase`` interface can use it.
"""
