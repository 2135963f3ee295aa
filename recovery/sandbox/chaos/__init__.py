"""Building blocks of a chaos run: a seeded plan of faults (``plan``), webhook delivery that
duplicates, delays, reorders and replays events (``webhooks``), an httpx transport that answers
Stripe calls with 429s, 5xx, timeouts and resets and kills the worker around charges
(``transport``), and the audit that compares the fake Stripe's own charge ledger with the engine's
records (``audit``).

Like the rest of the sandbox, only the CLI and the app may import it; it drives the engine from the
outside and never imports the engine's stages.
"""
