"""The sandbox: simulated Stripe and customers around the real pipeline, on a virtual clock."""
