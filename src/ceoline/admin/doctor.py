"""Health checks an admin runs before taking calls: config, persona, models, engines, data, SIP."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ceoline.admin.smoke import ENGINES, SmokeResult, run_smoke
from ceoline.config import Config
from ceoline.engines import (
    HASH_CACHE_NAME,
    fitting_adapter,
    fitting_merged,
    locate_all,
    reply_model,
)
from ceoline.errors import CeolineError
from ceoline.locator import HashCache, check_model, read_manifest, write_manifest
from ceoline.native_build import BUILD_RECORD, built_features, judge_build, this_cpu
from ceoline.offline import OFFLINE_ENV
from ceoline.persona.profile import load_persona
from ceoline.sip.endpoint import read_password
from ceoline.store import Store


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(config: Config, pin: bool = False, engines: bool = True) -> list[Check]:
    checks = [Check("config", True, config.source)]
    try:
        persona = load_persona(config.persona_file)
        checks.append(Check("persona", True, f"{persona.name}, {persona.company}"))
    except CeolineError as exc:
        checks.append(Check("persona", False, str(exc)))
    missing_env = [k for k, v in OFFLINE_ENV.items() if os.environ.get(k) != v]
    checks.append(
        Check(
            "offline",
            not missing_env,
            "model hubs disabled" if not missing_env else f"unset: {missing_env}",
        )
    )
    checks.extend(_model_checks(config, pin))
    if engines and all(c.ok for c in checks if c.name.startswith(("model", "adapter", "merged"))):
        checks.extend(engine_checks(config))
    checks.append(_data_dir_check(config.data_dir))
    checks.extend(_store_health(config))
    checks.append(_sip_check(config))
    if config.cluster.workers > 1:
        from ceoline.cluster.kamailio import check_config

        ok, detail = check_config(config)
        checks.append(Check("kamailio", ok, detail))
    if config.inference.mode == "shared":
        checks.append(_inference_check(config))
    checks.append(_knowledge_check(config))
    if config.lines:
        checks.extend(_line_checks(config))
    checks.append(_taxonomy_check(config))
    checks += [_webhook_check(config, hook) for hook in config.webhooks]
    return checks


def engine_checks(config: Config) -> list[Check]:
    """Load each native engine and run it once, each in a child process, in parallel."""
    source = Path(config.source)
    config_file = source if source.is_file() else None
    with ThreadPoolExecutor(len(ENGINES)) as pool:
        results = list(pool.map(lambda e: run_smoke(e, config_file), ENGINES))
    checks = [Check(f"engine {r.engine}", r.ok, r.detail) for r in results]
    llm = next(r for r in results if r.engine == "llm")
    if llm.ok:
        checks.append(_llama_build_check(llm))
    return checks


def _llama_build_check(llm: SmokeResult) -> Check:
    record_file = Path(sys.prefix) / BUILD_RECORD
    try:
        record = record_file.read_text().strip()
    except OSError:
        record = None
    features = built_features(llm.info.get("system_info", ""))
    verdict = judge_build(features, this_cpu(), record)
    return Check("llama build", verdict.ok, verdict.detail)


SERVER_RECORD = "llama-server-build.txt"


def _inference_check(config: Config) -> Check:
    """The shared service's llama-server: present, runs on this CPU, built like the binding."""
    import subprocess

    from ceoline.inference.service import base_url, health, server_binary

    try:
        binary = server_binary(config)
    except CeolineError as exc:
        return Check("inference", False, str(exc))
    try:
        run = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("inference", False, f"{binary} does not run ({exc}); rebuild: make install")
    if run.returncode != 0:
        return Check(
            "inference",
            False,
            f"{binary} --version exited {run.returncode} on this CPU; rebuild: make clean install",
        )
    version = next((x for x in run.stderr.splitlines() if x.startswith("version")), "")
    records = [Path(sys.prefix) / name for name in (SERVER_RECORD, BUILD_RECORD)]
    try:
        server_flags, binding_flags = (r.read_text().strip() for r in records)
    except OSError:
        server_flags = binding_flags = ""
    if server_flags != binding_flags:
        return Check(
            "inference",
            False,
            f"{binary} was built with other flags than llama-cpp-python "
            f"({server_flags or 'no record'}); rebuild both: make install",
        )
    running = "running" if health(config, timeout=0.3) else "started by `ceoline serve`"
    return Check(
        "inference",
        True,
        f"shared: {binary.name} {version.removeprefix('version: ')} on {base_url(config)} "
        f"({running}), {config.inference.parallel} slots",
    )


def _knowledge_check(config: Config) -> Check:
    from ceoline.trust.knowledge import open_knowledge

    try:
        kb = open_knowledge(config)
    except CeolineError as exc:
        return Check("knowledge", False, str(exc))
    try:
        stats = kb.stats()
    finally:
        kb.close()
    return Check(
        "knowledge", True, f"{config.knowledge_dir}: {stats.files} files, {stats.passages} passages"
    )


def _line_checks(config: Config) -> list[Check]:
    """With [[lines]]: each line's numbers, persona and notes, loaded as a call would."""
    from ceoline.lines import load_lines

    try:
        lines = load_lines(config)
    except CeolineError as exc:
        return [Check("lines", False, str(exc))]
    from ceoline.config import ESPEAK_PREFIX
    from ceoline.engines import line_model_files
    from ceoline.voice import espeak

    checks = []
    for line in lines:
        stats = line.knowledge.stats()
        try:
            line_model_files(config, [line])
            if line.voice.startswith(ESPEAK_PREFIX) and not espeak.available():
                raise CeolineError(f"voice {line.voice!r} needs espeak-ng; `make sysdeps`")
        except CeolineError as exc:
            checks.append(Check(f"line {line.name}", False, str(exc)))
            continue
        replies = (
            "model replies"
            if config.llm.speaks(line.language)
            else "no model replies: notes and the persona's lines"
        )
        checks.append(
            Check(
                f"line {line.name}",
                True,
                f"{', '.join(line.numbers)} → {line.persona.name}, {line.persona.company} "
                f"({line.language}, Whisper {line.stt}, voice {line.voice}, {replies}); notes: "
                f"{stats.files} files, {stats.passages} passages",
            )
        )
    for knowledge in {id(line.knowledge): line.knowledge for line in lines}.values():
        knowledge.close()
    return checks


def _taxonomy_check(config: Config) -> Check:
    from ceoline.insights.summary import load_taxonomy

    path = config.path(config.insights.taxonomy)
    try:
        areas = load_taxonomy(path)
    except CeolineError as exc:
        return Check("taxonomy", False, str(exc))
    return Check("taxonomy", True, f"{path}: {len(areas)} product areas")


def _webhook_check(config: Config, hook) -> Check:
    """A destination's secret (or token) is there and well formed; nothing is sent."""
    from ceoline.webhooks.signing import read_secret

    name = f"webhook {hook.name}"
    try:
        if hook.format == "standard":
            read_secret(config.path(hook.secret_file))
        elif (
            hook.format == "gitlab"
            and hook.token_file
            and not config.path(hook.token_file).read_text("utf-8").strip()
        ):
            return Check(name, False, f"{hook.token_file}: the token file is empty")
    except CeolineError as exc:
        return Check(name, False, str(exc))
    except OSError as exc:
        return Check(name, False, f"{hook.token_file}: cannot read the token ({exc.strerror})")
    return Check(name, True, f"{hook.format} -> {hook.url} ({', '.join(hook.events)})")


def _sip_check(config: Config) -> Check:
    """Can `ceoline serve` bind its address and port (is it local, is the port free)?"""
    sip = config.sip
    family = socket.AF_INET6 if ":" in sip.address else socket.AF_INET
    kinds = [("udp", socket.SOCK_DGRAM)] * sip.udp + [("tcp", socket.SOCK_STREAM)] * sip.tcp
    for name, kind in kinds:
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((sip.address, sip.port))
            except OSError as exc:
                return Check(
                    "sip",
                    False,
                    f"cannot bind {name} {sip.address}:{sip.port} ({exc.strerror}); a server may "
                    "already run there, or the address is not on this host: check [sip] address",
                )
    reg = sip.registration
    if reg.registrar:
        try:
            read_password(reg, config)
        except CeolineError as exc:
            return Check("sip", False, str(exc))
    transports = "/".join(n for n, _ in kinds)
    return Check(
        "sip", True, f"{transports} {sip.address}:{sip.port} free, {len(sip.allow)} allowed sources"
    )


def _model_checks(config: Config, pin: bool) -> list[Check]:
    try:
        models = locate_all(config)
    except CeolineError as exc:
        return [Check("models", False, str(exc))]
    manifest_path = config.path(config.models.manifest)
    cache = HashCache(config.data_dir / HASH_CACHE_NAME if _writable(config.data_dir) else None)
    if pin:
        write_manifest(manifest_path, list(models.values()), cache)
    try:
        manifest = read_manifest(manifest_path)
    except CeolineError as exc:
        return [Check("manifest", False, str(exc))]
    checks = []
    for kind, model in models.items():
        results = check_model(model, manifest, cache)
        bad = [r for r in results if r.status != "ok"]
        if not bad:
            checks.append(
                Check(f"model {kind}", True, f"{model.path} ({len(results)} files, sha256 ok)")
            )
        else:
            first = bad[0]
            fix = (
                "restore the file (`make install` for embedded models) or re-pin with "
                "`ceoline doctor --pin`"
                if first.status == "MISMATCH"
                else "pin it with `ceoline doctor --pin`"
            )
            checks.append(
                Check(
                    f"model {kind}",
                    False,
                    f"{first.file}: sha256 {first.status.lower()} in {manifest_path}; {fix}",
                )
            )
    if "adapter" in models:
        try:
            info = fitting_adapter(config, models, cache)
        except CeolineError as exc:
            checks.append(Check("adapter fit", False, str(exc)))
        else:
            checks.append(
                Check(
                    "adapter fit",
                    True,
                    f"{info.path.name} belongs to {models['llm'].path.name} "
                    f"(scale {config.llm.adapter_scale})",
                )
            )
    if "merged" in models:
        try:
            merged = fitting_merged(config, models, cache)
        except CeolineError as exc:
            checks.append(Check("merged fit", False, str(exc)))
        else:
            checks.append(
                Check(
                    "merged fit",
                    True,
                    f"{merged.path.name} = {models['llm'].path.name} + "
                    f"{models['adapter'].path.name} at scale {config.llm.adapter_scale}: "
                    "calls load it",
                )
            )
    if "turn_reader" in models:
        checks.append(_reader_check(config, models, cache))
    return checks


def _reader_check(config: Config, models: dict, cache: HashCache) -> Check:
    """The turn reader is whole and was trained on the reply model calls load."""
    from ceoline.voice.turn_reader import read_weights

    try:
        reply_files, _ = reply_model(config, models, cache)
        weights = read_weights(models["turn_reader"].path, cache.sha256(reply_files.path))
    except CeolineError as exc:
        return Check("reader fit", False, str(exc))
    heldout = weights.get("report", {}).get("reader", {}).get("heldout", {})
    auc = heldout.get("statements_auc")
    return Check(
        "reader fit",
        True,
        f"{models['turn_reader'].path.name} reads {reply_files.path.name}"
        + (f" (held-out statements ROC AUC {auc:.3f})" if auc is not None else ""),
    )


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
        return True
    except OSError:
        return False


def _store_health(config: Config) -> list[Check]:
    """The store's file is sound, no crashed call waits, insights keep their 24 h promise,
    and nothing is kept past retention."""
    from ceoline.metrics import insights_queue
    from ceoline.retention import expired_calls
    from ceoline.store import owner_alive

    try:
        store = Store.open(config.data_dir)
    except CeolineError:
        return []  # the data dir check has named it
    try:
        with store.reading() as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            open_calls = db.execute("SELECT owner FROM calls WHERE ended_at IS NULL").fetchall()
        crashed = sum(1 for (owner,) in open_calls if not owner_alive(owner))
        depth, oldest_s = insights_queue(store)
        expired, _ = expired_calls(store, config.retention.days)
    finally:
        store.close()
    checks = [
        Check(
            "store",
            verdict == "ok",
            f"integrity ok; {len(open_calls) - crashed} calls live, {crashed} left open by a "
            "crash (closed at the next `ceoline serve` start)"
            if verdict == "ok"
            else f"integrity check failed ({verdict}); stop ceoline and restore from a backup",
        ),
        Check(
            "insights",
            oldest_s < 24 * 3600,
            f"{depth} jobs queued, oldest {oldest_s / 3600:.1f} h"
            + ("" if oldest_s < 24 * 3600 else "; past 24 h: run `ceoline insights run`"),
        ),
        Check(
            "retention",
            not expired,
            f"nothing kept past {config.retention.days} days"
            if not expired
            else f"{len(expired)} calls are past {config.retention.days} days: run "
            "`ceoline purge` (serve purges daily with [retention] daily = true)",
        ),
    ]
    return checks


def _data_dir_check(data_dir: Path) -> Check:
    if not _writable(data_dir):
        return Check(
            "data dir",
            False,
            f"{data_dir} is not writable; fix its permissions or set [store] data_dir",
        )
    try:
        store = Store.open(data_dir)
        migrations = store.applied_migrations()
        store.close()
    except CeolineError as exc:
        return Check("data dir", False, str(exc))
    return Check("data dir", True, f"{data_dir} (schema: {migrations[-1]})")
