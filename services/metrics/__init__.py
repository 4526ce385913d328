"""Continuous metrics analysis: reads what the other services report and keeps running figures."""
