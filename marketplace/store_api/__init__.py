"""The marketplace's API under /api/v1/marketplace/ (and the old /api/marketplace/ paths): one
module per subject (listings, orders, installs, reviews, payouts), routed in
marketplace/store_api_urls.py and marketplace/legacy_api_urls.py."""
