"""The marketplace's API under /api/v1/marketplace/ (listings, buying, installs, reviews)."""
