"""The Ed25519 key pair that signs audit exports and evidence packs (governance.audit_export).

``VIGIL_EXPORT_SIGNING_KEY_FILE`` names a PEM Ed25519 private key; unset, a key pair is generated on
first use into ``<data_dir>/keys/export-signing.pem`` (0600, the directory 0700) and
``export-signing.pub.pem``. Two processes generating at once end with one key: each writes a
complete private key to its own temporary file and publishes it with a hard link, which fails
when the name exists, so the loser reads the winner's key.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from core.actor import Actor
from core.errors import ConfigError, InvalidInput
from governance.audit_checkpoint import key_id

KEY_FILE_ENV = "VIGIL_EXPORT_SIGNING_KEY_FILE"
DEFAULT_KEY = "export-signing.pem"


def key_path(settings: Any) -> Path:
    """The private key's file: the configured one, else ``<data_dir>/keys/export-signing.pem``."""
    configured = getattr(settings, "export_signing_key_file", None)
    return Path(configured).expanduser() if configured else Path(settings.data_dir) / "keys" / DEFAULT_KEY


def public_key_path(private: Path) -> Path:
    return private.with_name(private.name.removesuffix(".pem") + ".pub.pem")


def _load_private(pem: bytes, where: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: not a PEM private key without a password ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where}: the export signing key must be Ed25519, got {type(key).__name__}")
    return key


def public_pem(private_key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _create_key(path: Path) -> None:
    """Generate a key and publish it at ``path`` unless another process already did."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic and exclusive: fails when a key is already there
    except FileExistsError:
        pass  # another process won; its key is complete (it was written before the link)
    except OSError:  # a filesystem without hard links: exclusive create, then write
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        try:
            os.write(fd, pem)
        finally:
            os.close(fd)
    finally:
        tmp.unlink(missing_ok=True)


def signing_key(settings: Any) -> Any:
    """The Ed25519 private key that signs exports (generated on first use when none is configured)."""
    path = key_path(settings)
    configured = bool(getattr(settings, "export_signing_key_file", None))
    if not path.exists():
        if configured:
            raise ConfigError(f"{KEY_FILE_ENV}: {path} does not exist")
        _create_key(path)
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{KEY_FILE_ENV if configured else 'export signing key'}: cannot read {path}: "
                          f"{exc.strerror or exc}") from None
    key = _load_private(pem, str(path))
    pub = public_key_path(path)
    if not configured and (not pub.exists() or pub.read_bytes() != public_pem(key)):
        from core.artifacts import atomic_write_bytes

        atomic_write_bytes(pub, public_pem(key))
    return key


def existing_public_pem(settings: Any) -> bytes:
    """The public key of the configured or generated signing key, without creating one."""
    path = key_path(settings)
    if path.exists():
        return public_pem(_load_private(path.read_bytes(), str(path)))
    pub = public_key_path(path)
    if pub.exists():
        return pub.read_bytes()
    raise ConfigError(f"no export signing key at {path}: pass the console's public key (--public-key), "
                      "exported with `python -m jobs.audit public-key`")


def export_public_key(ctx: Any, actor: Actor) -> bytes:
    """The PEM public key that verifies this console's exports; needs ``audit.read`` or
    ``audit.export`` (what an auditor holds) and is audited."""
    from governance.rbac import can, require

    if not can(ctx, actor.username, "audit.read", "*"):
        require(ctx, actor, "audit.export", "*")
    pem = public_pem(signing_key(ctx.settings))
    ctx.audit.append(actor, "audit.public_key", "audit_log", "success",
                     details={"key_id": key_id(load_public(pem))})
    return pem


def load_public(pem: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"not an Ed25519 public key ({type(key).__name__})")
    return key
