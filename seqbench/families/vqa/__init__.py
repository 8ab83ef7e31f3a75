"""The ``vqa`` family: image + question -> an answer class -> official VQA accuracy.

``family.py`` the family class (batches, loss, scoring) · ``prepare.py`` the prepare
pipeline · ``sources.py`` real sources to examples and split planning · ``readers.py`` one
reader per source format · ``store.py`` the prepared Arrow splits.
"""
