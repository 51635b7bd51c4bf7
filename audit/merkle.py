"""RFC 6962 / RFC 9162 Merkle trees: hashing, proofs over stored subtrees, and their verification.

Standard library only, no Django: an offline verifier (the evidence pack's) runs this same code.

The tree is over byte strings ``d[0..n)`` (here: the audit events' chain hashes in ``seq`` order):

- ``leaf_hash(d) = SHA-256(0x00 || d)``; ``node_hash(l, r) = SHA-256(0x01 || l || r)``;
- ``MTH(D[0:n])`` splits at ``k``, the largest power of two below ``n``: the left subtree is always perfect.

Proofs are built from *perfect aligned subtrees* ``(level, index)`` — the ``2**level`` leaves from
``index * 2**level`` — which is what the portal stores (``audit.tree``). A proof needs O(log n) of them, never a
scan of the log: ``nodes_for_*`` names them, the caller fetches them in one go, ``*_proof`` assembles the proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

Node = tuple[int, int]  # (level, index): the perfect subtree over leaves [index << level, (index + 1) << level)
NodeLookup = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not verify, or a request for one that cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size`` >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _perfect(start: int, end: int) -> Node | None:
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return level, start >> level
    return None


def range_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """``MTH(D[start:end])`` for a range the RFC's recursion produces, from perfect subtrees ``node(level, index)``."""
    if end <= start:
        raise ProofError(f"empty range [{start}, {end})")
    perfect = _perfect(start, end)
    if perfect is not None:
        return node(*perfect)
    k = _split(end - start)
    return node_hash(range_hash(start, start + k, node), range_hash(start + k, end, node))


def root(size: int, node: NodeLookup) -> bytes:
    return EMPTY_ROOT if size == 0 else range_hash(0, size, node)


def frontier(size: int) -> list[Node]:
    """The perfect subtrees that cover leaves ``[0, size)``, largest first: all a tree head of ``size`` needs."""
    nodes, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def _path(index: int, start: int, end: int, node: NodeLookup) -> list[bytes]:
    """RFC 6962 2.1.1 ``PATH(m, D[start:end])``, leaf first."""
    if end - start == 1:
        return []
    k = _split(end - start)
    if index < start + k:
        return _path(index, start, start + k, node) + [range_hash(start + k, end, node)]
    return _path(index, start + k, end, node) + [range_hash(start, start + k, node)]


def _subproof(first: int, start: int, end: int, complete: bool, node: NodeLookup) -> list[bytes]:
    """RFC 6962 2.1.2 ``SUBPROOF(m, D[start:end], b)`` with ``m = first - start``."""
    if first == end:
        return [] if complete else [range_hash(start, end, node)]
    k = _split(end - start)
    if first <= start + k:
        return _subproof(first, start, start + k, complete, node) + [range_hash(start + k, end, node)]
    return _subproof(first, start + k, end, False, node) + [range_hash(start, start + k, node)]


def inclusion_proof(index: int, size: int, node: NodeLookup) -> list[bytes]:
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    return _path(index, 0, size, node)


def consistency_proof(first: int, second: int, node: NodeLookup) -> list[bytes]:
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from a tree of {first} to one of {second}")
    if first in (0, second):
        return []
    return _subproof(first, 0, second, True, node)


def _nodes_used(build: Callable[[NodeLookup], object]) -> set[Node]:
    used: set[Node] = set()

    def record(level: int, index: int) -> bytes:
        used.add((level, index))
        return bytes(32)

    build(record)
    return used


def nodes_for_inclusion(index: int, size: int) -> set[Node]:
    """The perfect subtrees ``inclusion_proof(index, size, ...)`` reads (fetch them, then build the proof)."""
    return _nodes_used(lambda node: inclusion_proof(index, size, node))


def nodes_for_consistency(first: int, second: int) -> set[Node]:
    return _nodes_used(lambda node: consistency_proof(first, second, node))


def nodes_for_root(size: int) -> set[Node]:
    return set(frontier(size))


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Iterable[bytes], expected_root: bytes) -> None:
    """RFC 9162 2.1.3.2; raises ``ProofError`` saying what does not hold."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size}")
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    if result != expected_root:
        raise ProofError("the inclusion proof does not lead to the tree head's root")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> None:
    """RFC 9162 2.1.4.2: the tree of ``second`` leaves extends the tree of ``first`` (raises ``ProofError``)."""
    if not 0 <= first <= second:
        raise ProofError(f"a tree of {first} cannot be a prefix of one of {second}")
    if first == second:
        if proof or first_root != second_root:
            raise ProofError("two heads of the same size must have the same root and an empty proof")
        return
    if first == 0:
        if proof:
            raise ProofError("the empty tree's consistency proof is empty")
        return
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        raise ProofError("the consistency proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first_result = second_result = path[0]
    for item in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            first_result = node_hash(item, first_result)
            second_result = node_hash(item, second_result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second_result = node_hash(second_result, item)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the trees are deep")
    if first_result != first_root:
        raise ProofError("the consistency proof does not lead to the older head's root")
    if second_result != second_root:
        raise ProofError("the consistency proof does not lead to the newer head's root")


LOG_ID = "registry-portal-audit-log"


def head_message(size: int, root_hex: str, timestamp_ms: int) -> bytes:
    """The bytes a tree head's Ed25519 signature covers (canonical JSON: sorted keys, no spaces)."""
    import json

    body = {"log": LOG_ID, "root": root_hex, "size": size, "timestamp": timestamp_ms}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
