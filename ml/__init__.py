"""The smart-timing scorer's learning side: features, decision snapshots, the attempt dataset,
training, the artifact registry and the promotion rule (scikit-learn, skops).

Imports only ``models`` of the project; it is handed a session or a frame, never settings,
clocks or the engine.
"""
