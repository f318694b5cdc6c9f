"""What each worker is: its SIP port on loopback, its RTP ports, and what it runs.

Worker ``i`` is an ordinary ``ceoline serve`` with a config derived from the box's: SIP on
``127.0.0.1:(worker_port + i)``, reachable only from Kamailio; RTP on the box's media address
(the trunk sends media straight to the worker, never through Kamailio), in its own slice of
``[sip] rtp_port_range``. The supervisor runs the dashboard and the daily purge once for the
box; worker 0 alone runs the insights queue, so two workers never take the same job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ceoline.config import Config

# Kamailio and the workers speak over loopback only.
INTERNAL_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class Worker:
    index: int
    sip_port: int
    rtp_port: int
    rtp_ports: int

    @property
    def name(self) -> str:
        return f"worker-{self.index}"

    @property
    def uri(self) -> str:
        return f"sip:{INTERNAL_ADDRESS}:{self.sip_port}"


def workers(config: Config) -> list[Worker]:
    cluster, sip = config.cluster, config.sip
    share = sip.rtp_port_range // cluster.workers
    # RTP and RTCP take port pairs: keep each slice even-sized and even-based.
    share -= share % 2
    return [
        Worker(i, cluster.worker_port + i, sip.rtp_port + i * share, share)
        for i in range(cluster.workers)
    ]


def proxy_port(config: Config) -> int:
    """The port Kamailio talks to the workers from (and probes them with OPTIONS)."""
    return config.cluster.worker_port - 1


def worker_config(config: Config, index: int) -> Config:
    """The box's config as worker ``index`` runs it."""
    worker = workers(config)[index]
    sip = dataclasses.replace(
        config.sip,
        address=INTERNAL_ADDRESS,
        port=worker.sip_port,
        udp=True,
        tcp=False,
        media_address=config.sip.rtp_address,
        rtp_port=worker.rtp_port,
        rtp_port_range=worker.rtp_ports,
        allow=(f"{INTERNAL_ADDRESS}/32",),
    )
    metrics = dataclasses.replace(config.metrics, port=config.metrics.port + 1 + index)
    return dataclasses.replace(
        config,
        sip=sip,
        metrics=metrics,
        dashboard=dataclasses.replace(config.dashboard, enabled=False),
        retention=dataclasses.replace(config.retention, daily=False),
        insights=dataclasses.replace(
            config.insights, enabled=config.insights.enabled and index == 0
        ),
        cluster=dataclasses.replace(config.cluster, workers=1),
    )
