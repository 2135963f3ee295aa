"""Stage 3: claim inbox rows, parse them into facts and hand the facts to the engine; redrive
and inbox statistics. It never decides what to do with a fact (the engine does).
"""
