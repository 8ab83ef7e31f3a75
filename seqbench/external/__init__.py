"""Models from outside seqbench, to be priced: a user's module from a file
(:mod:`~seqbench.external.loader`), a Hugging Face ``transformers`` model built offline from its
configuration (:mod:`~seqbench.external.hf`), and the papers' workloads as module definitions
(:mod:`~seqbench.external.paper_models`)."""
