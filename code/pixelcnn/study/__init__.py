"""The study: MNIST, the course's checkpoint, the named runs and their budgets, training with Lightning, the
results cache with its declarations and provenance, the benchmark, and the claims the report checks.
"""
