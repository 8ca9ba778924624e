"""Diagnostics: speed benchmarks, per-stage timing, long-run soak and the synthetic test clip."""
