"""The ``lm`` family: running text -> language models -> perplexity and bits per character.

``family.py`` the family class (stream windows, loss, sliding-window scoring) · ``prepare.py``
the prepare pipeline · ``sources.py`` embedded/hub/local sources to documents per split ·
``store.py`` the prepared token streams · ``kneser_ney.py`` the count-based trigram baseline ·
``generate.py`` sampling text from a trained model.
"""
