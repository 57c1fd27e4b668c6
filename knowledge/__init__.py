"""The curated knowledge base, its retrieval, the leave calculator and the child health plans.

Pure Python: nothing here imports telegram or touches the database.
"""
