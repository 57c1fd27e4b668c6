"""The in-process Bot API served over HTTP on loopback, for running ``carebot run`` without Telegram.

Point ``CAREBOT_TELEGRAM_API_URL`` at ``http://127.0.0.1:PORT/bot``; used by the restart and
kill tests, and handy for trying a deployment before it has a real token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from bot.transport import InProcessBotAPI


def _decode(value: str) -> Any:
    # PTB sends form fields; objects and arrays arrive JSON-encoded.
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class BotAPIServer:
    """A minimal HTTP/1.1 server: ``POST /bot<token>/<method>`` answered by an InProcessBotAPI."""

    def __init__(self, api: InProcessBotAPI | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api or InProcessBotAPI()
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            # A bot's getUpdates long poll would otherwise hold its connection until the poll times out.
            await self.api.release_long_polls()
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                _verb, path, _version = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    line = (await reader.readline()).decode("latin-1").strip()
                    if not line:
                        break
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                params = self._params(headers.get("content-type", ""), body)
                method = path.split("?", 1)[0].rsplit("/", 1)[-1]
                status, payload = await self.api.handle(method, params, None)
                writer.write(
                    f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _params(content_type: str, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        if "application/json" in content_type:
            data = json.loads(body)
            return dict(data) if isinstance(data, dict) else {}
        if "multipart/form-data" in content_type:
            # Files are not inspected; only the presence of the upload matters to the fake.
            return {"_multipart": True}
        return {k: _decode(v) for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True)}
