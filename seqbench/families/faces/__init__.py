"""The ``faces`` family: face verification (LFW protocol) and gallery identification.

``family.py`` registers it; ``protocol.py`` builds and reads verification pairs;
``sources.py`` reads synth-faces or an LFW folder; ``store.py`` holds the prepared splits;
``scaling.py`` runs the gallery search at ICE's data-set sizes.
"""
