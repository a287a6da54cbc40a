#!/usr/bin/env python3
"""An independent reader of a C2SP tlog-tiles log, written only from the specifications
(https://c2sp.org/tlog-tiles, https://c2sp.org/tlog-checkpoint, RFC 9162 section 2.1),
with the Python standard library only. It shares no code with shuin.

    tlog_tiles_reader.py SOURCE [--entries FILE] [--check I ...] [--proofs]

SOURCE is the log's prefix: an http(s) URL ending in '/' or a directory. The reader
fetches SOURCE/checkpoint, parses its body (origin, size, base64 root), fetches only the
tiles it needs and recomputes the root of that size from them, which must equal the
checkpoint's. With --entries (one entry per line, in log order, as hashed), for each
leaf index given with --check it hashes the entry (SHA-256(0x00 || entry)), compares it
with the level 0 tile, builds the inclusion proof from the tiles and verifies it against
the checkpoint's root; with --proofs it also verifies the server's
`proof/inclusion?index=I&size=S` answer (shuin's endpoint, not part of tlog-tiles).

The checkpoint's signature is not checked here (the standard library has no ECDSA): the
caller checks it with the log's key. Prints a JSON summary with the checkpoint it used; exits 1 on any mismatch.
"""

import base64
import hashlib
import json
import os
import sys
import urllib.request

TILE_WIDTH = 256
HASH_SIZE = 32


def fetch(source, path):
    if source.startswith("http://") or source.startswith("https://"):
        with urllib.request.urlopen(source + path, timeout=30) as answer:
            return answer.read()
    with open(os.path.join(source, *path.split("/")), "rb") as file:
        return file.read()


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def tile_path(level, index, width):
    """tile/<L>/<N>[.p/<W>], N in zero-padded 3-digit elements, all but the last x-prefixed."""
    elements = ["%03d" % (index % 1000)]
    index //= 1000
    while index > 0:
        elements.append("x%03d" % (index % 1000))
        index //= 1000
    path = "tile/%d/%s" % (level, "/".join(reversed(elements)))
    if width < TILE_WIDTH:
        path += ".p/%d" % width
    return path


def parse_checkpoint(text):
    body = text.split("\n\n", 1)[0]
    lines = body.split("\n")
    if len(lines) < 3:
        raise ValueError("the checkpoint has no origin, size and root lines")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    if len(root) != HASH_SIZE:
        raise ValueError("the root hash is not 32 bytes")
    return origin, size, root


class TiledTree:
    """The tree of `size` leaves, read from tiles on demand."""

    def __init__(self, source, size):
        self.source, self.size, self.tiles = source, size, {}

    def tile(self, level, index):
        key = (level, index)
        if key not in self.tiles:
            width = min(TILE_WIDTH, self.size // TILE_WIDTH ** level - index * TILE_WIDTH)
            if width <= 0:
                raise ValueError("tile %d/%d is outside the tree" % key)
            data = fetch(self.source, tile_path(level, index, width))
            if len(data) != width * HASH_SIZE:
                raise ValueError("%s has %d bytes, not %d" % (tile_path(level, index, width), len(data), width * HASH_SIZE))
            self.tiles[key] = data
        return self.tiles[key]

    def stored_hash(self, level, k):
        """The k-th hash at `level`: MTH of leaves [k * 256**level, (k+1) * 256**level)."""
        data = self.tile(level, k // TILE_WIDTH)
        offset = (k % TILE_WIDTH) * HASH_SIZE
        return data[offset:offset + HASH_SIZE]

    def subtree(self, height, start):
        """MTH of the 2**height leaves from `start` (a multiple of 2**height)."""
        level, rest = divmod(height, 8)
        first = start // TILE_WIDTH ** level
        hashes = [self.stored_hash(level, first + i) for i in range(1 << rest)]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def mth(self, start, end):
        """RFC 9162 MTH(D[start:end])."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self.subtree(n.bit_length() - 1, start)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def root(self):
        if self.size == 0:
            return hashlib.sha256(b"").digest()
        return self.mth(0, self.size)

    def inclusion_proof(self, index, start=0, end=None):
        """RFC 9162 section 2.1.3.1 PATH(index, D[start:end])."""
        end = self.size if end is None else end
        if end - start <= 1:
            return []
        k = 1 << ((end - start - 1).bit_length() - 1)
        if index < start + k:
            return self.inclusion_proof(index, start, start + k) + [self.mth(start + k, end)]
        return self.inclusion_proof(index, start + k, end) + [self.mth(start, start + k)]


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def main(argv):
    source, entries_file, checks, proofs = argv[0], None, [], False
    rest = argv[1:]
    while rest:
        flag = rest.pop(0)
        if flag == "--entries":
            entries_file = rest.pop(0)
        elif flag == "--check":
            checks.append(int(rest.pop(0)))
        elif flag == "--proofs":
            proofs = True
        else:
            raise ValueError("unknown argument " + flag)
    note = fetch(source, "checkpoint").decode("utf-8")
    origin, size, signed_root = parse_checkpoint(note)
    tree = TiledTree(source, size)
    computed = tree.root()
    if computed != signed_root:
        raise ValueError("the tiles give root %s, the checkpoint signs %s" % (computed.hex(), signed_root.hex()))
    checked = []
    if entries_file:
        with open(entries_file, "rb") as file:
            entries = [line.rstrip(b"\n") for line in file]
        for index in checks:
            if index >= min(size, len(entries)):
                continue
            leaf = leaf_hash(entries[index])
            if leaf != tree.stored_hash(0, index):
                raise ValueError("entry %d does not hash to its level 0 tile hash" % index)
            if not verify_inclusion(leaf, index, size, tree.inclusion_proof(index), signed_root):
                raise ValueError("the inclusion proof of entry %d from the tiles does not verify" % index)
            if proofs:
                answer = json.loads(fetch(source, "proof/inclusion?index=%d&size=%d" % (index, size)))
                path = [bytes.fromhex(h) for h in answer["inclusion_path"]]
                if not verify_inclusion(leaf, index, size, path, signed_root):
                    raise ValueError("the server's inclusion proof of entry %d does not verify" % index)
            checked.append(index)
    print(json.dumps({
        "checkpoint": note,
        "origin": origin,
        "size": size,
        "root": signed_root.hex(),
        "tiles_fetched": sorted("%d/%d" % key for key in tree.tiles),
        "entries_checked": checked,
    }))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as error:  # one line on stderr, exit 1
        print("tlog_tiles_reader: %s" % error, file=sys.stderr)
        sys.exit(1)
