"""Connected Stripe accounts, their webhook secrets and event routing to an account."""
