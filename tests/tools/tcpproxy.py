#!/usr/bin/env python3
"""tcpproxy.py LISTEN_PORT TARGET_PORT - a TCP relay on 127.0.0.1 for tests.

A node pointed at the proxy instead of the broker loses its link when the
test kills the proxy (every connection dies with the process, as when a
4G link drops) and finds it again when the test starts a new proxy on the
same port. The broker itself keeps running, so the controller stays online.
"""
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(client_r, client_w, target):
    try:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))


async def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, target), "127.0.0.1", listen, reuse_address=True)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
