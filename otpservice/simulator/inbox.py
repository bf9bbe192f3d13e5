"""The dev inbox: the phone-style page of what the simulator delivered."""

from __future__ import annotations

import html
from importlib import resources
from typing import Any, Final

from litestar import Request

from .state import (
    InboxMessage,
)

INBOX_TEMPLATE: Final = "inbox.html"


def render_inbox(messages: list[InboxMessage], mobile: str | None) -> str:
    """The phone-style page: one thread per number, newest first, text escaped."""
    template = resources.files(__package__).joinpath(INBOX_TEMPLATE).read_text("utf-8")
    threads: dict[str, list[InboxMessage]] = {}
    for m in messages:  # already newest first, so threads come out by latest activity
        threads.setdefault(m.mobile, []).append(m)
    if not threads:
        body = '<p class="empty">No messages yet.</p>'
    else:
        chunks = []
        for number, items in threads.items():
            bubbles = "".join(
                '<div class="bubble"><div class="meta">'
                f"{html.escape(m.sender)} · {html.escape(m.sent_at)} · "
                f"{m.parts} part{'s' if m.parts != 1 else ''} · #{m.sms_id}</div>"
                f'<div class="text" dir="auto">{html.escape(m.text)}</div></div>'
                for m in items
            )
            chunks.append(
                f'<section class="thread"><h2>+{html.escape(number)}'
                f' <span class="count">{len(items)}</span></h2>{bubbles}</section>'
            )
        body = "".join(chunks)
    title = f"Inbox · +{html.escape(mobile)}" if mobile else "Inbox"
    return template.replace("{{ title }}", title).replace("{{ threads }}", body)


def wants_html(request: Request[Any, Any, Any]) -> bool:
    fmt = request.query_params.get("format", "").lower()
    if fmt:
        return fmt == "html"
    return "text/html" in request.headers.get("accept", "")
