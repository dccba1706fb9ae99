import factory

from accounts.models import ApiKey, User
from accounts.services.keys import api_key_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")


def api_key_for(user=None, *, livemode=True, name="test", scopes=None):
    """A (user, raw key) pair made through the real service; `scopes` replaces the default ones."""
    user = user or UserFactory()
    created = api_key_create(owner=user, livemode=livemode, name=name)
    if scopes is not None:
        ApiKey.objects.filter(pk=created.api_key.pk).update(scopes=list(scopes))
    return user, created.raw_key
