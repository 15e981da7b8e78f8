"""The Audit page says whether the chain is anchored by a signed checkpoint, and where."""

from __future__ import annotations

from pathlib import Path

from tests.app.conftest import BY_ROLE, new_app, sign_in_as


def _audit_page(vigil_env):  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), vigil_env, BY_ROLE["auditor"]).run()
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    return at


def test_unanchored_chain_is_flagged(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = _audit_page(vigil_env)
    assert any(s.value.startswith("Chain intact: OK") for s in at.success)
    assert any(w.value.startswith("Not anchored: no audit checkpoint location configured") for w in at.warning)


def test_anchored_chain_shows_the_checkpoint(vigil_env, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    from governance.audit_anchor import AnchorConfig, take_checkpoint

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    cp, _ = take_checkpoint(vigil_env.ctx.engine, AnchorConfig.from_env(
        {"VIGIL_AUDIT_CHECKPOINT_URL": str(tmp_path), "VIGIL_AUDIT_CHECKPOINT_KEY": private}))
    # the dashboard holds only the public key
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_URL", str(tmp_path))
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY",
                       key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode())
    at = _audit_page(vigil_env)
    [ok] = [s.value for s in at.success if s.value.startswith("Chain intact: OK")]
    assert f"anchored at seq {cp.seq}, {cp.ts}" in ok
    assert not any(w.value.startswith("Not anchored") for w in at.warning)
