"""The events part of the core: every domain event stored as an ``Event``, readable per organization and partner."""
