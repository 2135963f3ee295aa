"""Connected Stripe accounts: connecting (by key or Connect) and removing them, their sealed keys
and webhook secrets, event routing to an account, API tokens and the audit trail. Reaches Stripe
only through ``stripe_api``; never imports the engine, the stages or the doors."""
