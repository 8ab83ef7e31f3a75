"""The ``translation`` family: parallel text -> sequence-to-sequence models -> BLEU/chrF/EM.

``family.py`` the family class (batches, loss, decoding and scoring) · ``prepare.py`` the
prepare pipeline · ``sources.py`` generator/hub/local sources to sentence pairs · ``files.py``
local file formats · ``store.py`` the prepared parquet splits.
"""
