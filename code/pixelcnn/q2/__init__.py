"""Chapter 2 (Q2, the non-causal PixelCNN): ``noncausal`` (its results, findings and claims)."""
