"""The original asgi-ratelimit 0.10 serving the same rules as the `custom_auth` example,
for `bench/whole_server.sh`.

Every path answers `200 ok` unless limited; the identity is the `X-User` header in the
group of the `X-Group` header (missing or empty: `default`); the backend is the original's
in-process `MemoryBackend`. Run with `uvicorn --app-dir bench original_app:app`.
"""

from typing import Tuple

from ratelimit import RateLimitMiddleware, Rule
from ratelimit.auths import EmptyInformation
from ratelimit.backends.simple import MemoryBackend


async def ok(scope, receive, send) -> None:
    """Answers `200 ok` to every request."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def from_headers(scope) -> Tuple[str, str]:
    """The identity from the `X-User` and `X-Group` headers."""
    headers = dict(scope["headers"])
    user = headers.get(b"x-user", b"").decode("latin-1")
    if not user:
        raise EmptyInformation(scope)
    group = headers.get(b"x-group", b"").decode("latin-1") or "default"
    return user, group


# The rules of examples/custom_auth.rs, in the same order.
app = RateLimitMiddleware(
    ok,
    from_headers,
    MemoryBackend(),
    {
        r"^/towns": [Rule(second=1, group="default"), Rule(group="admin")],
        r"^/forests": [Rule(minute=1, group="default"), Rule(group="admin")],
        r"^/api": [
            Rule(day=400, minute=200, second=10),
            Rule(minute=500, second=25, group="admin"),
        ],
        r"^/user/\d+": [
            Rule(minute=200, zone="user-api"),
            Rule(second=100, zone="user-api", group="admin"),
        ],
        r"^/login": [Rule(second=5, block_time=60)],
        r"^/second_limit": [Rule(second=1), Rule(group="admin")],
        r"^/minute": [Rule(minute=1), Rule(group="admin")],
        r"^/multi-minute": [Rule(minute=2), Rule(group="admin")],
        r"^/block": [Rule(second=1, block_time=5)],
        r"^/multiple": [Rule(second=1, minute=3)],
        r"^/message": [Rule(method="get", minute=1), Rule(method="post", minute=2)],
        r"^/\d+": [Rule(second=1, zone="common")],
        r"^/common": [Rule(second=1, zone="common")],
        r"^/bench": [Rule(second=1_000_000_000)],
    },
)
