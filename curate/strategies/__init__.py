"""Selection strategies that need more than one score: IGSP (Xu et al. 2026)."""
