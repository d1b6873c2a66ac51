"""Inflow's product code: UI-free, typed, importable."""
