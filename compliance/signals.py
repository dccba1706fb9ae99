"""Publishing, changing or removing a terms version is felt at once, not after the cache expires."""

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from compliance.models import TermsVersion
from compliance.selectors import TERMS_CACHE_KEY


@receiver([post_save, post_delete], sender=TermsVersion)
def terms_cache_forget(**kwargs):
    cache.delete(TERMS_CACHE_KEY)
