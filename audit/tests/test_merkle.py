"""audit.merkle against a reference written here straight from RFC 6962's definitions (section 2.1)."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [sha(str(i).encode()) for i in range(n)]


def lookup_over(d: list[bytes]):
    """Perfect subtrees computed from the data: what audit.tree stores."""

    def node(level: int, index: int) -> bytes:
        return mth(d[index << level : (index + 1) << level])

    return node


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=sizes)
def test_inclusion_proofs_match_the_rfc_and_verify(data, n):
    d = leaves(n)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    node = lookup_over(d)
    proof = merkle.inclusion_proof(m, n, node)
    assert proof == path(m, d)
    assert merkle.root(n, node) == mth(d)
    merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, proof, mth(d))
    assert {key for key in merkle.nodes_for_inclusion(m, n)} <= {
        (level, index) for level in range(10) for index in range(n >> level)
    }


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=sizes)
def test_consistency_proofs_match_the_rfc_and_verify(data, n):
    d = leaves(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    node = lookup_over(d)
    proof = merkle.consistency_proof(m, n, node)
    assert proof == (subproof(m, d, True) if m < n else [])
    merkle.verify_consistency(m, n, mth(d[:m]), mth(d), proof)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=200))
def test_any_changed_byte_fails_inclusion(data, n):
    d = leaves(n)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = path(m, d)
    root = mth(d)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(merkle.leaf_hash(d[(m + 1) % n]), m, n, proof, root)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, bad, root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, proof[:-1], root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, proof + [root], root)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(min_value=3, max_value=200))
def test_a_rewritten_history_fails_consistency(data, n):
    d = leaves(n)
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    forged = list(d)
    forged[data.draw(st.integers(min_value=0, max_value=m - 1))] = sha(b"forged")
    proof = subproof(m, forged, True)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(m, n, mth(d[:m]), mth(forged), proof)


def test_edges():
    assert merkle.root(0, lambda level, index: b"") == hashlib.sha256(b"").digest()
    assert merkle.frontier(13) == [(3, 0), (2, 2), (0, 12)]
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(5, 5, lambda level, index: b"")
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(b"x" * 32, 0, 0, [], b"")
    merkle.verify_consistency(0, 7, merkle.EMPTY_ROOT, b"any", [])
