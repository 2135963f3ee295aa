"""A simulated Stripe account serving the REST API and sending signed webhooks."""
