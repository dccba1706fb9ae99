"""Assertions on the API's one error shape, shared by the API tests."""

ERROR_KEYS = {"error", "message", "details", "correlation_id"}


def assert_api_error(response, status: int, code: str, *, extra_keys: frozenset = frozenset()) -> dict:
    """The response is `status` with body {"error": code, "message", "details", "correlation_id"}
    (plus extra_keys, for the old contracts that added some). Returns the body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == ERROR_KEYS | set(extra_keys), body
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["details"], dict), body
    # The correlation id in the body is the one the response carries, so support can find the logs.
    assert body["correlation_id"] and body["correlation_id"] == response["X-Request-ID"], body
    return body


def error_fields(body: dict) -> list[str]:
    """The fields named by a validation error's details.errors list."""
    return [item["field"] for item in body["details"]["errors"]]
