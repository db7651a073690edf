"""hooks of the TempCLR project; each module registers on import."""
