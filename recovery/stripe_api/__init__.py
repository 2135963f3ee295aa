"""The only package that imports the Stripe SDK: the gateway, its result values and request
pacing. It returns our own frozen values, never ``stripe.*`` objects, and decides nothing.
"""
