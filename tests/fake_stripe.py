"""A local fake of the Stripe API, driven by the real `stripe` SDK (STRIPE_API_BASE points at it).

It keeps objects per collection (customers, prices, checkout/sessions, ...), answers create /
retrieve / update / delete / list / search in Stripe's JSON shapes, replays a repeated
Idempotency-Key like Stripe does (a refusal, 4xx, included: the same key answers the same
error for 24 h; a 5xx or a 409 is not saved), and records every request so a test asserts what Stripe was
asked (`fake.requests`, `fake.created("prices")`, `fake.last("POST", "/v1/prices")`).

    def test_x(fake_stripe):                       # tests/conftest.py: the fixture, settings pointed here
        fake_stripe.put("balance_transactions", {"id": "txn_1", "amount": 1900, "fee": 85, "currency": "usd"})
        fake_stripe.fail_next(2, status=500)       # the next two requests answer 500
        ...
        assert fake_stripe.last("POST", "/v1/checkout/sessions")["form"]["mode"] == "subscription"

Webhooks are signed in the test with the secret, as Stripe signs them: stripe_webhook_body().
"""

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import stripe

# Collection path (after /v1/) -> (object name, id prefix). Longest names first when matching.
COLLECTIONS = {
    "checkout/sessions": ("checkout.session", "cs_test_"),
    "billing_portal/sessions": ("billing_portal.session", "bps_"),
    "customers": ("customer", "cus_"),
    "products": ("product", "prod_"),
    "prices": ("price", "price_"),
    "subscriptions": ("subscription", "sub_"),
    "invoices": ("invoice", "in_"),
    "charges": ("charge", "ch_"),
    "balance_transactions": ("balance_transaction", "txn_"),
    "coupons": ("coupon", "cpn_"),
    "promotion_codes": ("promotion_code", "promo_"),
    "refunds": ("refund", "re_"),
    "accounts": ("account", "acct_"),
    "account_links": ("account_link", "acctlink_"),
    "transfers": ("transfer", "tr_"),
    "payment_intents": ("payment_intent", "pi_"),
    # An invoice's payments (API >= 2025-03-31.basil: the Invoice names no charge). List with
    # ?invoice=<id>; expand[]=data.payment.charge / data.payment.payment_intent expands them.
    "invoice_payments": ("invoice_payment", "inpay_"),
    "events": ("event", "evt_"),
}
# Fields Stripe answers as integers / floats (form bodies carry every value as a string).
INT_FIELDS = {"unit_amount", "amount", "amount_off", "duration_in_months", "max_redemptions", "expires_at",
              "quantity", "trial_period_days", "application_fee_amount", "redeem_by", "created", "amount_reversed",
              "amount_refunded", "fee", "net", "current_period_end", "current_period_start", "interval_count"}
FLOAT_FIELDS = {"percent_off"}


def form_decode(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding back to nested data: a[b][0][c]=v, expand[]=x, metadata[k]=v."""
    root: dict = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        keys = [head, *re.findall(r"\[([^\]]*)\]", "[" + rest)] if rest else [head]
        node = root
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            nxt = None if last else keys[i + 1]
            want_list = nxt is not None and (nxt == "" or nxt.isdigit())
            if isinstance(node, list):
                index = len(node) if key == "" else int(key)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if want_list else {}
                    node = node[index]
            elif last:
                node[key] = value
            else:
                node = node.setdefault(key, [] if want_list else {})
    return _typed(root, in_metadata=False)


def _typed(value, *, in_metadata: bool, key: str = ""):
    if isinstance(value, dict):
        return {k: _typed(v, in_metadata=in_metadata or k == "metadata", key=k) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, in_metadata=in_metadata, key=key) for v in value]
    if in_metadata or not isinstance(value, str):
        return value
    if value in ("true", "false"):
        return value == "true"
    if key in INT_FIELDS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if key in FLOAT_FIELDS:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _error(status: int, message: str, *, code: str = "", kind: str = "invalid_request_error") -> tuple[int, dict]:
    return status, {"error": {"type": kind, "code": code or None, "message": message}}


class FakeStripe:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.objects: dict[str, dict[str, dict]] = {name: {} for name in COLLECTIONS}
        self._idempotent: dict[tuple[str, str], tuple[int, dict]] = {}
        self._scripted: list[tuple[int, dict]] = []
        self._counter = itertools.count(1)
        self.url = ""
        # Hooks a test may add: (method, collection) -> fn(fake, obj_or_None, form) run on create/update.
        self.on_create: dict[str, callable] = {}
        # A hook run on every request as it arrives (in the server's thread): fn(method, path).
        self.on_request: callable | None = None

    # -- what a test uses -------------------------------------------------------------------
    def put(self, collection: str, obj: dict) -> dict:
        """Seed an object (its id kept, or one made up)."""
        name, prefix = COLLECTIONS[collection]
        with self.lock:
            obj = {"object": name, "livemode": False, "created": int(time.time()), **obj}
            obj.setdefault("id", f"{prefix}{secrets.token_hex(8)}")
            self.objects[collection][obj["id"]] = obj
            return obj

    def get(self, collection: str, object_id: str) -> dict | None:
        return self.objects[collection].get(object_id)

    def created(self, collection: str) -> list[dict]:
        """The objects of a collection, oldest first."""
        return list(self.objects[collection].values())

    def fail_next(self, count: int = 1, *, status: int = 500, code: str = "", message: str = "fake failure") -> None:
        """The next `count` requests answer this status (500: Stripe failing; 402: a card error...)."""
        kind = "api_error" if status >= 500 else ("card_error" if status == 402 else "invalid_request_error")
        with self.lock:
            self._scripted.extend([_error(status, message, code=code, kind=kind)] * count)

    def calls(self, method: str | None = None, path: str | None = None) -> list[dict]:
        return [r for r in self.requests if (method is None or r["method"] == method)
                and (path is None or r["path"] == path)]

    def last(self, method: str, path: str) -> dict:
        found = self.calls(method, path)
        assert found, f"Stripe was not asked {method} {path}; it was asked {[(r['method'], r['path']) for r in self.requests]}"
        return found[-1]

    # -- the API ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, form: dict, headers: dict) -> tuple[int, dict]:
        if self.on_request is not None:
            self.on_request(method, path)
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": query, "form": form, "headers": headers,
                                  "api_key": headers.get("Authorization", "").removeprefix("Bearer "),
                                  "idempotency_key": headers.get("Idempotency-Key", "")})
            idem = headers.get("Idempotency-Key", "")
            if method == "POST" and idem and (idem, path) in self._idempotent:
                return self._idempotent[(idem, path)]
            if self._scripted:
                # A scripted refusal (4xx) is saved for its key as Stripe saves it: the same key
                # answers the same error again; a 5xx is not (the request may be retried as is).
                answer = self._scripted.pop(0)
            else:
                answer = self._route(method, path, {**query, **form} if method == "GET" else form)
            if method == "POST" and idem and answer[0] < 500 and answer[0] != 409:  # a 409 (key in flight) is not saved
                self._idempotent[(idem, path)] = answer
            return answer

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        rest = path.removeprefix("/v1/")
        for collection in sorted(COLLECTIONS, key=len, reverse=True):
            if rest == collection or rest.startswith(collection + "/"):
                tail = rest[len(collection):].strip("/").split("/") if rest != collection else []
                break
        else:
            return _error(404, f"Unrecognized request URL ({method}: {path}).")
        if not tail:
            if method == "POST":
                return 200, self._create(collection, params)
            return 200, self._list(collection, params)
        if tail == ["search"]:
            return 200, self._search(collection, params)
        obj = self.objects[collection].get(tail[0])
        if obj is None:
            return _error(404, f"No such {COLLECTIONS[collection][0]}: '{tail[0]}'", code="resource_missing")
        if len(tail) == 2 and collection == "transfers" and tail[1] == "reversals" and method == "POST":
            reversal = {"id": f"trr_{secrets.token_hex(8)}", "object": "transfer_reversal", "transfer": obj["id"],
                        "amount": params.get("amount", obj.get("amount", 0)), "metadata": params.get("metadata", {})}
            obj["amount_reversed"] = obj.get("amount_reversed", 0) + reversal["amount"]
            obj["reversed"] = obj["amount_reversed"] >= obj.get("amount", 0)
            return 200, reversal
        if len(tail) == 2 and collection == "checkout/sessions" and tail[1] == "expire" and method == "POST":
            if obj.get("status") != "open":  # as Stripe: only an open session can be expired
                return _error(400, f"Only Checkout Sessions with a status of open can be expired; this one is "
                                   f"{obj.get('status')}.", code="checkout_session_not_open")
            obj.update(status="expired", url=None)
            return 200, obj
        if len(tail) == 2 and tail[1] == "cancel" and method in ("POST", "DELETE"):
            obj["status"] = "canceled"
            return 200, obj
        if method == "DELETE":
            del self.objects[collection][obj["id"]]
            return 200, {"id": obj["id"], "object": obj["object"], "deleted": True}
        if method == "POST":
            _merge(obj, {k: v for k, v in params.items() if k != "expand"})
            if collection in self.on_create:
                self.on_create[collection](self, obj, params)
            return 200, obj
        return 200, self._expanded(obj, params.get("expand") or [])

    def _create(self, collection: str, params: dict) -> dict:
        name, prefix = COLLECTIONS[collection]
        obj = {"id": params.get("id") or f"{prefix}{next(self._counter):04d}{secrets.token_hex(6)}", "object": name,
               "livemode": False, "created": int(time.time()), "metadata": {}}
        obj.update({k: v for k, v in params.items() if k not in ("expand", "id", "transfer_lookup_key")})
        if collection == "prices":
            obj.setdefault("active", True)
            if params.get("transfer_lookup_key") and obj.get("lookup_key"):
                for other in self.objects["prices"].values():
                    if other.get("lookup_key") == obj["lookup_key"]:
                        other["lookup_key"] = None
        if collection == "products":
            obj.setdefault("active", True)
        if collection == "checkout/sessions":
            obj.update(status="open", url=f"https://checkout.stripe.test/c/pay/{obj['id']}", payment_status="unpaid")
        if collection in ("billing_portal/sessions", "account_links"):
            obj["url"] = f"https://stripe.test/{collection}/{obj['id']}"
        if collection == "promotion_codes":
            obj.setdefault("active", True)
            obj.setdefault("times_redeemed", 0)
        if collection == "coupons":
            obj.setdefault("valid", True)
        if collection == "accounts":
            obj.setdefault("payouts_enabled", False)
            obj.setdefault("charges_enabled", False)
            obj.setdefault("details_submitted", False)
        if collection == "transfers":
            obj.setdefault("amount_reversed", 0)
            obj.setdefault("reversed", False)
        self.objects[collection][obj["id"]] = obj
        if collection in self.on_create:
            self.on_create[collection](self, obj, params)
        return obj

    def _list(self, collection: str, params: dict) -> dict:
        items = list(self.objects[collection].values())
        lookup_keys = params.get("lookup_keys")
        if lookup_keys:
            items = [o for o in items if o.get("lookup_key") in lookup_keys]
        for key, value in params.items():
            if key in ("limit", "starting_after", "ending_before", "expand", "lookup_keys"):
                continue
            items = [o for o in items if o.get(key) == value]
        items.reverse()  # newest first, as Stripe lists
        limit = int(params.get("limit") or 10)
        # expand[]=data.x expands x in each listed object, as Stripe does.
        inner = [path.removeprefix("data.") for path in params.get("expand") or [] if path.startswith("data.")]
        page = [self._expanded(o, inner) for o in items[:limit]] if inner else items[:limit]
        return {"object": "list", "url": f"/v1/{collection}", "has_more": len(items) > limit, "data": page}

    def _search(self, collection: str, params: dict) -> dict:
        """Stripe's search language, the part we use: field:'value' and metadata['k']:'value', AND-ed."""
        items = list(self.objects[collection].values())
        for field, meta_key, value in re.findall(r"(\w+)(?:\['([^']+)'\])?:'([^']*)'", params.get("query", "")):
            if meta_key:
                items = [o for o in items if (o.get(field) or {}).get(meta_key) == value]
            else:
                items = [o for o in items if str(o.get(field)).lower() == value.lower()]
        return {"object": "search_result", "url": f"/v1/{collection}/search", "has_more": False, "data": items,
                "next_page": None}

    def _expanded(self, obj: dict, expand: list[str]) -> dict:
        obj = json.loads(json.dumps(obj))
        for path in expand:
            node = obj
            for part in path.split("."):
                value = node.get(part) if isinstance(node, dict) else None
                if isinstance(value, str):
                    found = next((coll[value] for coll in self.objects.values() if value in coll), None)
                    if found is not None:
                        node[part] = json.loads(json.dumps(found))
                        value = node[part]
                node = value
                if node is None:
                    break
        return obj


def _merge(into: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def fake_stripe_serve(fake: FakeStripe) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            query = form_decode(parse_qsl(parts.query, keep_blank_values=True))
            form = form_decode(parse_qsl(body, keep_blank_values=True))
            status, payload = fake.handle(self.command, parts.path, query, form, dict(self.headers.items()))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


def stripe_event(event_type: str, obj: dict, *, event_id: str | None = None, created: int | None = None,
                 livemode: bool = True, previous_attributes: dict | None = None,
                 api_version: str | None = None) -> dict:
    """An event as Stripe sends it to a webhook endpoint, rendered in the SDK's API version unless
    told otherwise (the version our requests pin, so the endpoint's too)."""
    data = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {"id": event_id or f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": api_version or stripe.api_version,
            "type": event_type, "created": created if created is not None else int(time.time()), "livemode": livemode,
            "data": data, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}}


def stripe_webhook_body(event: dict, secret: str, *, timestamp: int | None = None) -> tuple[bytes, str]:
    """(body, Stripe-Signature header) signed with the endpoint's secret, as Stripe signs:
    v1 = HMAC-SHA256(secret, f"{t}.{body}")."""
    body = json.dumps(event).encode()
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={t},v1={signature}"


def main() -> None:
    """`python -m tests.fake_stripe PORTFILE`: serve a fake Stripe on 127.0.0.1 (a free port,
    written to PORTFILE) until killed: scripts/api_fuzz.sh points the served API at it, so the
    fuzz reaches billing's real paths instead of 503 billing_not_configured."""
    import sys
    import threading as _threading

    fake = FakeStripe()
    server = fake_stripe_serve(fake)
    with open(sys.argv[1], "w") as portfile:
        portfile.write(fake.url)
    _threading.Event().wait()  # until the process is killed
    server.shutdown()


if __name__ == "__main__":
    main()
