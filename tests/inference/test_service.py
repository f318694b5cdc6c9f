"""The service's command line and start-up errors, without starting a model."""

from __future__ import annotations

import http.server
import threading

import pytest

from ceoline.config import parse_config_file
from ceoline.inference.service import InferenceService, ServiceError, server_binary, server_command
from ceoline.locator import ModelFiles

from ..conftest import ROOT, make_config
from ..sip_support import free_port


def _config(tmp_path, **inference):
    return parse_config_file(make_config(tmp_path, inference={"mode": "shared", **inference}))


def _files(name: str) -> ModelFiles:
    path = ROOT / "models" / name
    return ModelFiles("merged", name, path, path.parent, (path,))


def test_the_server_listens_on_loopback_with_a_context_per_slot(tmp_path):
    config = _config(tmp_path, parallel=8, port=18091)
    command = server_command(config, ROOT / "llama-server", _files("persona-merged.gguf"), None)
    line = " ".join(command)
    assert "--host 127.0.0.1 --port 18091" in line and "--parallel 8" in line
    assert f"--ctx-size {config.llm.context_tokens * 8}" in line
    assert "--n-gpu-layers 0" in line and "--lora" not in line


def test_a_runtime_adapter_and_the_gpu_reach_the_server(tmp_path):
    config = parse_config_file(
        make_config(
            tmp_path,
            inference={"mode": "shared"},
            runtime={"device": "cuda"},
            llm={"adapter_scale": 0.5},
        )
    )
    adapter = _files("persona-lora.gguf")
    command = server_command(config, ROOT / "x", _files("persona-merged.gguf"), adapter)
    assert command[command.index("--lora-scaled") + 1] == f"{adapter.path}:0.5"
    assert command[command.index("--n-gpu-layers") + 1] == "999"


def test_a_missing_server_says_how_to_build_it(tmp_path):
    with pytest.raises(ServiceError, match=r"no such program .*make install"):
        server_binary(_config(tmp_path, server="no-such-llama-server"))


def test_a_port_taken_by_another_service_is_refused(tmp_path):
    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *args):
            pass

    port = free_port()
    httpd = http.server.HTTPServer(("127.0.0.1", port), Healthy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        config = _config(tmp_path, port=port, server=str(ROOT / "scripts" / "kill_test.py"))
        with pytest.raises(ServiceError, match="already answers"):
            InferenceService(config, _files("persona-merged.gguf")).start()
    finally:
        httpd.shutdown()
