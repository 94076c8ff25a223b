"""The model layer: the offline deterministic model, a scripted test model and the provider factory."""
