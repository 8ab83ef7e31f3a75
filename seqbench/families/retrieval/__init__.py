"""The ``retrieval`` family: image-text retrieval with dual encoders -> Recall@K both ways.

``family.py`` the family class (batches, loss, embedding and search) · ``prepare.py`` the
prepare pipeline · ``sources.py`` generator/hub/local sources to image records · ``store.py``
the prepared Arrow splits.
"""
