"""Evaluation: metrics, leakage measurement and attacks on each privacy mode (stage after models)."""
