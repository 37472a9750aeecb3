"""The topics in force, kept current on every gateway instance.

Why: an admin's change (through the API, or a new topics file at start-up) is a new version in
the store; before the topics are used, one small query asks for the newest version number and
the document is parsed again only when it changed, so every instance applies a change at once,
without a restart. A stored version that no longer parses (never expected: only checked
documents are stored) is logged and the last good one kept.

Every write goes through here: the document is checked against the routing in force (each
stage's queue must be one of its queues) before it is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog
import yaml
from aiohttp import web

from appeals.topic_store import TopicConfigStore, TopicsVersion
from appeals.topics import (
    TopicsConfig,
    TopicsConfigError,
    changed_parts,
    load_topics_file,
    load_topics_text,
    parse_topics,
)
from gateway.keys import DATABASE, SETTINGS
from routing.live import LIVE_ROUTING, LiveRouting

log = structlog.get_logger()


def document_text(document: dict[str, Any]) -> str:
    """YAML for a document that came as JSON, so every version can be read as text."""
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)


class LiveTopics:
    def __init__(
        self, store: TopicConfigStore, routing: LiveRouting, topics_file: str | None = None
    ) -> None:
        self.store = store
        self.routing = routing
        self.topics_file = topics_file
        self.version: int | None = None
        self.stored: TopicsVersion | None = None
        self.config: TopicsConfig = self.fallback()

    @staticmethod
    def fallback() -> TopicsConfig:
        """Without any version stored: no topics (no appeal can be opened)."""
        return TopicsConfig(topics={})

    async def queues(self) -> set[str]:
        """The names of routing's queues in force (every stage must use one)."""
        return set((await self.routing.current()).queues)

    async def check_text(self, source_text: str, source: str = "topics") -> TopicsConfig:
        """The topics in YAML ``source_text`` if they may go live; TopicsConfigError else."""
        return load_topics_text(source_text, source, await self.queues())

    async def check_document(self, document: Any, source: str = "topics") -> TopicsConfig:
        return parse_topics(document, source, await self.queues())

    async def import_file(self) -> None:
        """Make the topics file the version in force if its text changed since it was last
        imported. A broken file stops the start-up with its errors (file, line and key)."""
        if not self.topics_file:
            return
        config, source_text = load_topics_file(self.topics_file, await self.queues())
        imported = await self.store.import_file(config.as_document(), source_text, self.topics_file)
        if imported is not None:
            log.info("appeals.topics.imported", version=imported.id, path=self.topics_file)

    async def current(self) -> TopicsConfig:
        """The topics in force (reads the store only when a newer version exists)."""
        latest = await self.store.latest_id()
        if latest is not None and latest != self.version:
            stored = await self.store.get(latest)
            if stored is not None:
                try:
                    # Checked against routing when stored; a queue routing dropped since
                    # must not take every topic away from this instance.
                    self.config = parse_topics(stored.document, f"topics version {stored.id}", None)
                except TopicsConfigError as exc:
                    log.error("appeals.topics.invalid", version=stored.id, problems=exc.problems)
                else:
                    self.stored = stored
                    log.info("appeals.topics.applied", version=stored.id)
                self.version = stored.id
        return self.config

    async def publish(
        self,
        config: TopicsConfig,
        source_text: str | None,
        *,
        actor_id: int | None,
        actor: str,
        expected_version: int | None = None,
    ) -> TopicsVersion:
        """Store checked topics as the version in force (TopicsVersionConflict when another
        version came in since ``expected_version``) and apply them here at once."""
        document = config.as_document()
        before = await self.store.get()
        saved = await self.store.save(
            document,
            source_text if source_text is not None else document_text(document),
            actor_id=actor_id,
            actor=actor,
            action="topics.publish",
            detail={"changed": changed_parts(before.document if before else {}, document)},
            expected_version=expected_version,
        )
        await self.current()
        return saved

    async def rollback(
        self,
        version: int,
        *,
        actor_id: int | None,
        actor: str,
        expected_version: int | None = None,
    ) -> TopicsVersion | None:
        """Make an earlier version the one in force again, as a new version; None if there is
        no such version. It is checked again (TopicsConfigError): routing may have changed."""
        old = await self.store.get(version)
        if old is None:
            return None
        source = f"topics version {old.id}"
        if old.source_text:
            await self.check_text(old.source_text, source)
        else:
            await self.check_document(old.document, source)
        saved = await self.store.rollback(
            version, actor_id=actor_id, actor=actor, expected_version=expected_version
        )
        await self.current()
        return saved


TOPICS = web.AppKey("appeal_topics", LiveTopics)  # the topics in force


async def live_topics(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the topics in force, after the topics file is imported (a broken
    file stops the start-up, as a broken routing rules file does)."""
    live = LiveTopics(
        TopicConfigStore(app[DATABASE]), app[LIVE_ROUTING], app[SETTINGS].appeals.topics_file
    )
    await live.import_file()
    await live.current()
    app[TOPICS] = live
    yield
