"""The marketplace store's API under /api/v1/marketplace/ (and the old /api/marketplace/ paths):
one module per subject (listings, ...), routed in marketplace/store_api_urls.py."""
