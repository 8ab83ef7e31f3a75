"""Quality metrics: text (BLEU, chrF, exact match), VQA accuracy, retrieval Recall@K."""
