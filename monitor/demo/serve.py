"""`monitor demo`: serve the sample sources on 127.0.0.1 and run one full cycle against them;
then show the items the classifier rejected and why, marking those a keyword alert would
have sent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from monitor.app import build_app, build_classifiers, utcnow
from monitor.classify.evaluate import BASELINES
from monitor.config import Config, load_config
from monitor.demo import demo_config_toml, demo_files
from monitor.parse.jobs import run_parse_job
from monitor.query import parse_query
from monitor.report import cycle_summary, why
from monitor.types import ParseJob

# The broader keyword alert of `monitor eval`: what a plain keyword filter would send.
KEYWORD_ALERT = BASELINES[-1][1]


@dataclass(frozen=True)
class Rejected:
    """A sample item no topic matched, with the classifier's reason."""

    source: str
    title: str
    reason: str
    keyword_alert: bool            # a keyword alert would have sent it


def rejected_items(config: Config, files: dict[str, tuple[bytes, str]]) -> list[Rejected]:
    """The served items that match no topic, read as the pipeline reads them."""
    classifiers = build_classifiers(config)
    keyword = parse_query(KEYWORD_ALERT)
    found: list[Rejected] = []
    for source in config.sources:
        body, content_type = files[urlsplit(source.url).path]
        parsed = run_parse_job(ParseJob(
            kind=source.type, content=body, url=source.url, content_type=content_type,
            item_selector=source.item_selector or "", link_selector=source.link_selector or "",
            title_selector=source.title_selector, summary_selector=source.summary_selector))
        for item in parsed.items:
            verdicts = [c.classify(item.title, item.summary) for c in classifiers.values()]
            if not any(v.match for v in verdicts):
                found.append(Rejected(source.name, item.title, why(verdicts[0]),
                                      keyword.matches(item.title, item.summary)))
    return found


def format_rejected(items: list[Rejected]) -> str:
    """The rejected items, one block each; "(keyword alert)" where a keyword filter fires."""
    lines = [f"--- not alerted: {len(items)} items the classifier rejected; "
             f"(keyword alert) marks those a keyword filter would have sent ---"]
    for item in items:
        mark = " (keyword alert)" if item.keyword_alert else ""
        lines.append(f"- {item.source}: {item.title}{mark}\n    why not: {item.reason}")
    return "\n".join(lines)


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
    files = demo_files(utcnow())
    server = _server(files)
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
        out(format_rejected(rejected_items(config, files)))
        out(f"--- try: monitor status -c {config_path} ; monitor matches -c {config_path}")
        return 0
    finally:
        server.shutdown()
        server.server_close()
