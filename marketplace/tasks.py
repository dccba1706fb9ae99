"""django-q2 entry points of marketplace: load ids, call a service. No logic."""
