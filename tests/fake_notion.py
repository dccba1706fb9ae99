"""A local fake of Notion's API (version 2025-09-03), driven by the real notion-client
(NOTION_BASE_URL points at it). It implements what the sync calls: retrieve a database (its data
sources), query a data source (filter: a rich_text property equals), create a page in a data source,
update a page's properties; pages are kept in memory. Every request is recorded with its headers (names lower-cased);
one without `Authorization: Bearer <token>` or `Notion-Version: 2025-09-03` is answered 401/400
and noted in `fake.problems` (the tests assert it stays empty).

    fake.script(429, {"code": "rate_limited"}, headers={"Retry-After": "1"})  # the next request
    fake.pages("ds-health")                        # the pages of a data source
    fake.count("POST", "/v1/pages")                # how many pages were created
"""

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOTION_VERSION = "2025-09-03"


def _error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"object": "error", "status": status, "code": code, "message": message}


class FakeNotion:
    def __init__(self, *, token: str, databases: dict[str, str]):
        self.token = token
        self.databases = {database_id: f"ds-{database_id}" for database_id in databases.values()}
        self.store: dict[str, dict] = {}  # page id -> page
        self.requests: list[dict] = []
        self.problems: list[str] = []
        self._script: list[tuple[int, dict, dict]] = []
        self.lock = threading.Lock()

    # --- what a test sets up and reads -----------------------------------------------------------
    def script(self, status: int, body: dict | None = None, *, headers: dict | None = None, times: int = 1):
        """The next `times` requests answer this (a 429 with Retry-After, a 500...)."""
        payload = {"object": "error", "status": status, "code": "internal_server_error", "message": "scripted",
                   **(body or {})}
        self._script.extend([(status, payload, headers or {})] * times)

    def pages(self, data_source_id: str) -> list[dict]:
        return [page for page in self.store.values() if page["parent"]["data_source_id"] == data_source_id]

    def count(self, method: str, path_prefix: str = "") -> int:
        return sum(1 for r in self.requests if r["method"] == method and r["path"].startswith(path_prefix))

    @staticmethod
    def prop(page: dict, name: str):
        """A property's plain value: text joined, number, checkbox, date start."""
        value = page["properties"][name]
        for kind in ("title", "rich_text"):
            if kind in value:
                return "".join(item["text"]["content"] for item in value[kind])
        if "number" in value:
            return value["number"]
        if "checkbox" in value:
            return value["checkbox"]
        if "date" in value:
            return value["date"] and value["date"]["start"]
        raise KeyError(name)

    # --- the API ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict, body: dict | None) -> tuple[int, dict, dict]:
        with self.lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body,
                                  "at": time.monotonic()})
            if headers.get("authorization") != f"Bearer {self.token}":
                self.problems.append(f"{method} {path}: Authorization {headers.get('authorization')!r}")
                return (*_error(401, "unauthorized", "API token is invalid."), {})
            if headers.get("notion-version") != NOTION_VERSION:
                self.problems.append(f"{method} {path}: Notion-Version {headers.get('notion-version')!r}")
                return (*_error(400, "missing_version", "Notion-Version header is wrong."), {})
            if self._script:
                return self._script.pop(0)
            return (*self._route(method, path, body or {}), {})

    def _route(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        if method == "GET" and (match := re.fullmatch(r"/v1/databases/([\w-]+)", path)):
            database_id = match.group(1)
            if database_id not in self.databases:
                return _error(404, "object_not_found", f"Could not find database with ID: {database_id}.")
            return 200, {"object": "database", "id": database_id,
                         "data_sources": [{"id": self.databases[database_id], "name": "Levqor"}]}
        if method == "POST" and (match := re.fullmatch(r"/v1/data_sources/([\w-]+)/query", path)):
            return self._query(match.group(1), body)
        if method == "POST" and path == "/v1/pages":
            return self._create(body)
        if method == "PATCH" and (match := re.fullmatch(r"/v1/pages/([\w-]+)", path)):
            page = self.store.get(match.group(1))
            if page is None:
                return _error(404, "object_not_found", "Could not find page.")
            page["properties"].update(body.get("properties") or {})
            return 200, page
        return _error(400, "invalid_request_url", f"{method} {path} is not an endpoint of the fake")

    def _query(self, data_source_id: str, body: dict) -> tuple[int, dict]:
        if data_source_id not in self.databases.values():
            return _error(404, "object_not_found", "Could not find data source.")
        found = self.pages(data_source_id)
        condition = body.get("filter")
        if condition:
            name, wanted = condition["property"], condition["rich_text"]["equals"]
            found = [page for page in found if name in page["properties"] and self.prop(page, name) == wanted]
        found = found[: int(body.get("page_size") or 100)]
        return 200, {"object": "list", "results": found, "has_more": False, "next_cursor": None}

    def _create(self, body: dict) -> tuple[int, dict]:
        parent = body.get("parent") or {}
        if parent.get("type") != "data_source_id" or parent.get("data_source_id") not in self.databases.values():
            return _error(400, "validation_error", f"parent is not a data source of the fake: {parent}")
        page = {"object": "page", "id": str(uuid.uuid4()), "parent": parent,
                "properties": dict(body.get("properties") or {})}
        self.store[page["id"]] = page
        return 200, page


def fake_notion_serve(fake: FakeNotion) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, payload, extra = fake.handle(self.command, self.path.split("?")[0], headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server
