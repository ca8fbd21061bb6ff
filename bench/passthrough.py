"""The benchmark's baseline: a bare Faust relay with the pipeline's own Faust settings.

Run as `python bench/passthrough.py BOOTSTRAP HOME WEB_PORT`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from synthguard.settings import load_settings
from synthguard.streams.app import faust_app, quiet_worker

SOURCE, SINK = "bench.passthrough.in", "bench.passthrough.out"


def main(bootstrap: str, home: str, web_port: int) -> None:
    settings = load_settings(overrides={"home": Path(home)})
    app = faust_app("bench-passthrough", settings, bootstrap, web_port)
    source = app.topic(SOURCE, key_serializer="raw", value_serializer="raw")
    sink = app.topic(SINK, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="relay")
    async def relay(stream: Any) -> None:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)

    quiet_worker(app, "warn").execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
