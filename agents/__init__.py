"""Composite agents built on evorl (installed as ``evorl.agents``)."""
