"""Staff accounts, browser sessions and API tokens.

Only hashes of session and API tokens are stored (SHA-256: they are long random values, so a
slow hash buys nothing); passwords use argon2id.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gateway.errors import Conflict
from gateway.model import Role, utcnow
from gateway.storage.database import Database
from gateway.storage.schema import api_tokens, sessions, users

_hasher = PasswordHasher()
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-password")


class UserExists(Conflict):
    """A user with that name is already there."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
        }


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf_token: str
    user: User


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, username: str, password: str, role: Role, display_name: str = "") -> User:
        now = utcnow()
        try:
            async with self.db.write() as conn:
                user_id = (
                    await conn.execute(
                        users.insert()
                        .values(
                            username=username,
                            display_name=display_name or username,
                            role=role.value,
                            password_hash=_hasher.hash(password),
                            disabled=False,
                            created_at=now,
                        )
                        .returning(users.c.id)
                    )
                ).scalar_one()
        except IntegrityError:
            raise UserExists(username) from None
        return User(user_id, username, display_name or username, role)

    async def list(self) -> list[User]:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.id))).all()
        return [User(r.id, r.username, r.display_name, Role(r.role)) for r in rows]

    async def get(self, user_id: int) -> User | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(users).where(users.c.id == user_id, users.c.disabled.is_(False))
                )
            ).first()
        return User(row.id, row.username, row.display_name, Role(row.role)) if row else None

    async def check_password(self, username: str, password: str) -> User | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(users).where(users.c.username == username, users.c.disabled.is_(False))
                )
            ).first()
        try:
            _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        return User(row.id, row.username, row.display_name, Role(row.role))

    async def create_session(self, user: User, lifetime: timedelta) -> Session:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write() as conn:
            await conn.execute(
                sessions.insert().values(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        return Session(token, csrf, user)

    async def session(self, token: str) -> Session | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(sessions.c.csrf_token, sessions.c.expires_at, users)
                    .join(users, users.c.id == sessions.c.user_id)
                    .where(sessions.c.token_hash == token_hash(token), users.c.disabled.is_(False))
                )
            ).first()
        if row is None or row.expires_at <= utcnow():
            return None
        return Session(
            token, row.csrf_token, User(row.id, row.username, row.display_name, Role(row.role))
        )

    async def end_session(self, token: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))

    async def end_sessions(self, user_id: int) -> None:
        """Sign a user out of every browser (supervisor force-logout)."""
        async with self.db.write() as conn:
            await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))

    async def create_api_token(self, user: User, name: str) -> str:
        token = "cgt_" + secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            await conn.execute(
                api_tokens.insert().values(
                    token_hash=token_hash(token), user_id=user.id, name=name, created_at=utcnow()
                )
            )
        return token

    async def user_for_api_token(self, token: str) -> User | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(users)
                    .join(api_tokens, api_tokens.c.user_id == users.c.id)
                    .where(
                        api_tokens.c.token_hash == token_hash(token), users.c.disabled.is_(False)
                    )
                )
            ).first()
        return User(row.id, row.username, row.display_name, Role(row.role)) if row else None
