"""Writes and side effects of accounts, one module per subject; import from the module:

- users: users (get or create, update, upsert, anonymise), referrals, the demo user
- keys: API key writes (create, rotate, revoke, import) and their audit events
- key_auth: authenticating a request's API key (lookup, its caches, last use, scope, quota)
- usage: counting API calls against the monthly quota, and its durable copy
- tiers: moving a user's tier (billing calls it), audited
"""
