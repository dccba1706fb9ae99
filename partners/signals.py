"""Signals of the partners app, for the parts that act on what happens to a partner."""

from django.dispatch import Signal

# A partner was soft-deleted (by its owner, staff, or an erasure), inside the deleting
# transaction: receivers' writes commit with it. kwargs: partner, actor (None: the system).
# The credentials part connects here to revoke the partner's credentials.
partner_deleted = Signal()
