from __future__ import annotations

from pathlib import Path

from adapters.outbound.kafka.embedded import EmbeddedAddress
from adapters.outbound.kafka.messaging import KafkaMessaging, KafkaSettings

EMBEDDED = "embedded"


def open_kafka(
    *, bootstrap_servers: str, data_dir: Path, topics: tuple[str, ...], partitions: int,
    delivery_timeout_ms: int, session_timeout_ms: int, heartbeat_interval_ms: int,
) -> KafkaMessaging:
    """Connect to `bootstrap_servers` ("embedded": the data directory's own Tansu broker) and
    create the configured topics that are missing."""
    described = ""
    embedded = None
    if bootstrap_servers == EMBEDDED:
        embedded = EmbeddedAddress(data_dir)
        bootstrap_servers = embedded.recover()
        described = f"{bootstrap_servers} (embedded Tansu, {data_dir / 'tansu'})"
    settings = KafkaSettings(
        bootstrap_servers=bootstrap_servers, partitions=partitions, delivery_timeout_ms=delivery_timeout_ms,
        session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat_interval_ms, topics=topics,
        # The longest the intake goes without polling is one batch whose publishes wait for a
        # broker that went away (then it leaves the group): past that, the group may drop it, and
        # a joining member waits for no longer (librdkafka's default is 300 s).
        max_poll_interval_ms=max(60_000, 2 * delivery_timeout_ms + session_timeout_ms),
    )
    return KafkaMessaging(settings, described, embedded)
