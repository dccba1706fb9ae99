import factory

from accounts.models import User
from accounts.services import api_key_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")


def api_key_for(user=None, *, livemode=True, name="test"):
    """A (user, raw key) pair made through the real service."""
    user = user or UserFactory()
    return user, api_key_create(owner=user, livemode=livemode, name=name).raw_key
