"""The marketplace API under /api/v1/marketplace/ (listings, orders, payouts), one module per subject."""
