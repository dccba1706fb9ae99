"""Every cursor-paginated list answers a cursor it did not hand out with 400 validation_failed
naming `cursor` (levqor.pagination.NewestFirstPagination), never 404 or 500."""

import pytest

from tests.api_asserts import assert_api_error
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db

SCOPES = ["jobs:read", "webhooks:read", "partners:read", "admin:read", "users:read"]


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/keys", "/api/v1/webhooks/deliveries",
                                  "/api/v1/partners", "/api/partners"])
@pytest.mark.parametrize("cursor", ["zzz", "cD0yMDI2LTEzLTQwKzAwOjAw"])  # garbage; a decodable impossible date
def test_a_cursor_not_handed_out_is_a_400_naming_it(path, cursor, client_for):
    _, raw = api_key_for(scopes=SCOPES)
    response = client_for(raw).get(path, {"cursor": cursor})
    assert_api_error(response, 400, "validation_failed")
    assert response.json()["details"]["errors"][0]["field"] == "cursor"
