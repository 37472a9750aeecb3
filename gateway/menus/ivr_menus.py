"""The IVR menus in force, for every instance: imported from config/ivr at start-up, published
and rolled back through the admin API, always validated first.

Why a cache keyed by the newest version id: a webhook asks for its menu on every request; one
cheap query says whether anything was published since, and only then are menus parsed again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

from gateway.errors import GatewayError
from gateway.storage.ivr import IvrMenuStore, MenuVersion
from ivr.loader import LoadedMenu, menu_files, parse_menu
from ivr.model import Menu, Problem
from ivr.validate import validate
from routing.live import LiveRouting

log = structlog.get_logger()

REFRESH_SECONDS = 1.0  # how stale a menu may be on one instance after a publish elsewhere


class MenuProblems(GatewayError):
    """A menu that may not go live, with every problem (file, node, line)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems[:5]))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class LiveMenu:
    menu: Menu
    stored: MenuVersion


class LiveMenus:
    def __init__(
        self, store: IvrMenuStore, routing: LiveRouting, directory: str | None = None
    ) -> None:
        self.store = store
        self.routing = routing
        self.directory = directory
        self.menus: dict[str, LiveMenu] = {}
        self.newest: int | None = None
        self.checked_at = float("-inf")

    async def check(self, source_text: str, file: str) -> LoadedMenu:
        """The menu in ``source_text`` if it may go live (valid, and naming only queues and
        skills routing knows); MenuProblems otherwise."""
        loaded = parse_menu(source_text, file)
        if isinstance(loaded, list):
            raise MenuProblems(loaded)
        config = await self.routing.current()
        problems = validate(loaded, queues=set(config.queues), skills=set(config.skills))
        if problems:
            raise MenuProblems(problems)
        return loaded

    async def import_directory(self) -> None:
        """Publish every menu file whose content changed since it was last imported. A broken
        file stops the start-up with its problems, as a broken rules file does."""
        if not self.directory:
            return
        problems: list[Problem] = []
        for path in menu_files(self.directory):
            text = path.read_text(encoding="utf-8")
            try:
                loaded = await self.check(text, str(path))
            except MenuProblems as exc:
                problems += exc.problems
                continue
            imported = await self.store.import_file(
                loaded.menu.id, text, loaded.menu.version, str(path)
            )
            if imported is not None:
                log.info("ivr.menu.imported", menu=loaded.menu.id, id=imported.id, path=str(path))
        if problems:
            raise MenuProblems(problems)

    async def _refresh(self) -> None:
        now = time.monotonic()
        if now - self.checked_at < REFRESH_SECONDS and self.menus:
            return
        self.checked_at = now
        newest = await self.store.newest_id()
        if newest == self.newest:
            return
        menus: dict[str, LiveMenu] = {}
        for menu_id, stored in (await self.store.current()).items():
            loaded = parse_menu(stored.source_text, f"{menu_id} (version {stored.id})")
            if isinstance(loaded, list):  # only validated menus are stored; keep the last good
                log.error("ivr.menu.invalid", menu=menu_id, id=stored.id)
                if menu_id in self.menus:
                    menus[menu_id] = self.menus[menu_id]
                continue
            menus[menu_id] = LiveMenu(loaded.menu, stored)
        self.menus, self.newest = menus, newest
        log.info("ivr.menus.applied", menus=sorted(menus), newest=newest)

    async def get(self, menu_id: str) -> LiveMenu | None:
        await self._refresh()
        return self.menus.get(menu_id)

    async def all(self) -> dict[str, LiveMenu]:
        await self._refresh()
        return dict(self.menus)

    def forget(self) -> None:
        """Read the store on the next request (after this instance published)."""
        self.checked_at = float("-inf")

    async def publish(
        self,
        source_text: str,
        *,
        actor_id: int | None,
        actor: str,
        expected: int | None = None,
        menu_id: str | None = None,
    ) -> MenuVersion:
        """Validate and publish a menu (MenuProblems, MenuVersionConflict); ``menu_id``, when
        given, must be the id inside the text."""
        loaded = await self.check(source_text, menu_id or "menu")
        if menu_id is not None and loaded.menu.id != menu_id:
            raise MenuProblems(
                [Problem("menu", None, 1, f"id: is {loaded.menu.id!r}, not {menu_id!r}")]
            )
        published = await self.store.publish(
            loaded.menu.id,
            source_text,
            loaded.menu.version,
            actor_id=actor_id,
            actor=actor,
            expected=expected,
        )
        self.forget()
        return published

    async def rollback(
        self, menu_id: str, version_id: int, *, actor_id: int | None, actor: str
    ) -> MenuVersion | None:
        """Publish an earlier version again (as a new version, so history stays whole);
        None if there is no such version of this menu. It is validated again: routing may
        have changed since."""
        old = await self.store.get(version_id)
        if old is None or old.menu_id != menu_id:
            return None
        loaded = await self.check(old.source_text, f"{menu_id} (version {old.id})")
        published = await self.store.publish(
            menu_id,
            old.source_text,
            loaded.menu.version,
            actor_id=actor_id,
            actor=actor,
            source="rollback",
            detail={"to": version_id},
        )
        self.forget()
        return published


def default_directory(rules_file: str | None, config_file: str | None) -> str | None:
    """config/ivr next to the routing rules file (else next to the configuration file)."""
    beside = rules_file or config_file
    if not beside:
        return None
    directory = Path(beside).parent / "ivr"
    return str(directory) if directory.is_dir() else None


LIVE_MENUS = web.AppKey("live_menus", LiveMenus)  # the IVR menus in force
