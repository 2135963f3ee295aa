"""The sandbox: simulated Stripe (``fake_stripe``) and customers (``world``) around the real
pipeline, on a virtual clock; the drivers behind ``recovery simulate`` and the live sandbox.

Only ``recovery.cli`` and ``recovery.app`` import this package.
"""
