"""One conversation in a process of its own, for the load-balancer tests: the documented
protocol (tests/server/wire.py) through `base`, talking in real time until a line
`stop` (or the end) comes on stdin. It prints what happens, one word a line:
`talking`, `frames N` (every 25 frames answered), `refused HOW`, `closed CODE REASON`,
`done`.

    python -m tests.integration.lb_client ws://127.0.0.1:PORT TOKEN
"""

from __future__ import annotations

import asyncio
import sys
import threading

import aiohttp
import numpy as np

from tests.server.wire import FRAME, Client

TONE = (0.2 * np.sin(2 * np.pi * 330 * np.arange(FRAME) / 24_000)).astype(np.float32)


def say(*words) -> None:
    print(*words, flush=True)


async def converse(base: str, token: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        client = await Client.open(base, headers={"Authorization": f"Bearer {token}"},
                                   text_prompt="You are calm.", voice_prompt="NATF2.pt")
    except aiohttp.WSServerHandshakeError as e:
        say("refused", e.status)
        return
    async with client:
        msg = await client.read()
        if msg.type != aiohttp.WSMsgType.BINARY or msg.data != b"\x00":
            code, reason = await client.read_close()
            say("refused", code, reason)
            return
        say("talking")
        talk = asyncio.ensure_future(_talk(client))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({talk, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if talk.done():  # the server closed the conversation
            say("closed", client.ws.close_code, client.got.errors)
            return
        talk.cancel()
    say("done")


async def _talk(client: Client) -> None:
    """One frame each time the server has answered all but four of those sent: the
    server's clock paces the talk, as a microphone would. Ends when the server closes."""
    sent = 0
    while True:
        try:
            await client.read_until(lambda g: g.samples >= (sent - 4) * FRAME, timeout=120)
        except AssertionError:
            return
        await client.send_audio(TONE)
        sent += 1
        if sent % 25 == 0:
            say("frames", sent)


if __name__ == "__main__":
    asyncio.run(converse(sys.argv[1], sys.argv[2]))
