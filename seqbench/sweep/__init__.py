"""``seqbench sweep``: a grid of derived accelerator profiles, one executor unit per cell.

``grid`` parses and checks ``--set``, ``cells`` runs one cell, ``driver`` plans, resumes and
dispatches, ``summary`` writes the table, CSV and plots.
"""
