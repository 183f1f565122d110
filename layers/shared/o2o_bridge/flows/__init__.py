"""Business flows, one module per scenario of ARCHITECTURE.md. Plain Python over ports.

Importing this package imports every flow, so each registers its retry commands with
``o2o_bridge.retry.commands`` (the retry worker relies on it). The scenario flows come
with their issues (S1: #5, S2: #6, stock: #7, S5-S7: #8).
"""
