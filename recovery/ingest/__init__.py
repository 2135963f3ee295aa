"""Stage 3: claim inbox rows, parse them into facts and hand the facts to the engine; fetch the
snapshots of thin events and the decline details Stripe could not give at first; redrive and
inbox statistics. It never decides what to do with a fact (the engine does).
"""
