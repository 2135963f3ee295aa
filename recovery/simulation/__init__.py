"""Former home of the sandbox, kept only so worlds written against ``recovery.simulation.world``
still load. New code imports ``recovery.sandbox.world``."""
