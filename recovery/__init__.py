"""Payment-recovery engine: composes the webhook edge, the ML scorer and the data models."""
