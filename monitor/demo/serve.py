"""`monitor demo`: serve the sample sources on 127.0.0.1 and run one full cycle against them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitor.app import build_app, utcnow
from monitor.config import load_config
from monitor.demo import demo_config_toml, demo_files
from monitor.report import cycle_summary


def _server(files: dict[str, tuple[bytes, str]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?")[0]
            if path == "/robots.txt" or path not in files:
                self.send_error(404)
                return
            body, content_type = files[path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def run_demo(data_dir: Path, out: Callable[[str], None]) -> int:
    """Serve the samples, write a config under data_dir, poll once, deliver, show the alerts."""
    from monitor.scheduler import poll_sources

    data_dir.mkdir(parents=True, exist_ok=True)
    server = _server(demo_files(utcnow()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        config_path = data_dir / "monitor.toml"
        config_path.write_text(demo_config_toml(base, str(data_dir)), encoding="utf-8")
        config = load_config(config_path)
        out(f"serving {len(config.sources)} sample sources on {base}; state in {data_dir}")
        app = build_app(config)
        try:
            outcomes = poll_sources(app, config.sources)
            flushed = app.deliverer.flush_all()
        finally:
            app.close()
        out(cycle_summary(outcomes, flushed))
        digests = Path(next(n.path for n in config.notifiers if n.type == "file"))
        out(f"\n--- alerts written to {digests} ---")
        out(digests.read_text(encoding="utf-8") if digests.exists() else "(no alerts)")
        out(f"--- try: monitor status -c {config_path} ; monitor matches -c {config_path}")
        return 0
    finally:
        server.shutdown()
        server.server_close()
