"""The request class of the app: JSON bodies that cannot be decoded are the caller's error."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException


class JsonRequest(Request[Any, Any, Any]):
    """Litestar maps msgspec's DecodeError to 400, but invalid UTF-8 inside a string
    (UnicodeDecodeError) and nesting deeper than msgspec's limit (RecursionError) escape
    as 500s. Both are malformed input: raise them as what Litestar answers 400 to."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except UnicodeDecodeError as exc:
            raise SerializationException("JSON is malformed: the body is not UTF-8") from exc
        except RecursionError as exc:
            raise SerializationException("JSON is malformed: nested too deeply") from exc
