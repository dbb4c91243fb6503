"""One atomic file write and one Vault implementation for every module that writes files or Vault text."""

import os
import stat

from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import (
    _cloudflare_vault,
    _vault,
    _wireguard_crypto,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._files import atomic_write


def test_the_cloudflare_and_wireguard_modules_share_one_vault_implementation():
    assert _cloudflare_vault.encrypt is _vault.encrypt is _wireguard_crypto.vault_encrypt
    assert _cloudflare_vault.decrypt is _vault.decrypt is _wireguard_crypto.vault_decrypt
    assert _cloudflare_vault.VaultError is _vault.VaultError is _wireguard_crypto.VaultError


def test_vault_text_and_ansible_core_agree_both_ways():
    text = _vault.encrypt(b"token: x\n", "pw", vault_id="clinic")
    assert VaultLib([("clinic", VaultSecret(b"pw"))]).decrypt(text) == b"token: x\n"
    theirs = VaultLib([("default", VaultSecret(b"pw"))]).encrypt(b"from ansible", VaultSecret(b"pw"))
    assert _vault.decrypt(theirs, "pw") == b"from ansible"


def test_atomic_write_sets_the_mode_before_the_content_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "secret"
    atomic_write(str(path), b"one", 0o600)
    assert path.read_bytes() == b"one" and stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o640)
    atomic_write(str(path), b"two", None)  # None: keep the mode of the file it replaces
    assert path.read_bytes() == b"two" and stat.S_IMODE(path.stat().st_mode) == 0o640
    atomic_write(str(tmp_path / "new"), b"x", None)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "secret"]
