"""CareBot knowledge base: curated answers, retrieval, the leave calculator and child health plans.

Pure Python: nothing in this package imports telegram.
"""
