"""The ``binding`` family: audio bound to a frozen image-text space (ImageBind) -> Recall@K.

``family.py`` the family class (batches, loss, evaluation) · ``prepare.py`` the prepare
pipeline (the teacher's tokenizer, log-mel features) · ``sources.py`` generator/local sources
to (image, audio, captions) records · ``store.py`` the prepared Arrow splits ·
``arithmetic.py`` the combined scenes that image + audio queries retrieve.
"""
