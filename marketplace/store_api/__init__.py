"""The marketplace's store API under /api/v1/marketplace/ (listings, orders), one module per subject."""
