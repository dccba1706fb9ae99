"""The accounts API: users and referrals (users.py), API keys (keys.py)."""
