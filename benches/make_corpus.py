#!/usr/bin/env python3
"""Generate a deterministic benchmark corpus for vigil and its peers.

Usage: python3 benches/make_corpus.py DIR [--seed N] [--scale F]

At --scale 1.0 the tree holds (approximately):
  * 20,000 small files of 1-16 KiB
  *    300 medium files of 64 KiB-1 MiB
  *      6 large files of 32-48 MiB
about 550 MiB in total, spread over 155 nested directories (5 top-level,
each with 5 children, each with 5 grandchildren; files live at every level,
~130 per directory).  --scale multiplies the file and directory counts.

Content is pseudo-random: one random buffer is generated from
random.Random(seed) and every file is a window of it at a random offset,
prefixed with a header carrying the file's own index, so every file's
content (and hash) is distinct.  Same seed and scale => byte-identical tree.
Standard library only.
"""

import argparse
import os
import random
import sys

KIB = 1024
MIB = 1024 * KIB

SMALL_COUNT, SMALL_MIN, SMALL_MAX = 20_000, 1 * KIB, 16 * KIB
MEDIUM_COUNT, MEDIUM_MIN, MEDIUM_MAX = 300, 64 * KIB, 1 * MIB
LARGE_COUNT, LARGE_MIN, LARGE_MAX = 6, 32 * MIB, 48 * MIB
FANOUT, DEPTH = 5, 3  # 5 + 25 + 125 = 155 directories at scale 1.0
EXTS = (".bin", ".dat", ".txt", ".so", ".jpg", ".pdf", ".log", "")


def build_dirs(root, ndirs):
    """Breadth-first list of nested directory paths (relative), ndirs long."""
    dirs = []
    level = [""]
    for depth in range(DEPTH):
        nxt = []
        for parent in level:
            for i in range(FANOUT):
                name = f"d{depth}_{i}"
                nxt.append(os.path.join(parent, name) if parent else name)
        dirs.extend(nxt)
        level = nxt
        if len(dirs) >= ndirs:
            break
    return dirs[:ndirs]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="output directory (created; must be empty or absent)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args(argv)

    if args.scale <= 0:
        ap.error("--scale must be > 0")
    root = args.dir
    if os.path.exists(root) and os.listdir(root):
        ap.error(f"{root} exists and is not empty")
    os.makedirs(root, exist_ok=True)

    rng = random.Random(args.seed)
    n_small = max(1, round(SMALL_COUNT * args.scale))
    n_medium = max(1, round(MEDIUM_COUNT * args.scale))
    n_large = round(LARGE_COUNT * args.scale)
    n_dirs = max(1, min(FANOUT + FANOUT**2 + FANOUT**3, round(155 * args.scale)))

    sizes = (
        [rng.randint(SMALL_MIN, SMALL_MAX) for _ in range(n_small)]
        + [rng.randint(MEDIUM_MIN, MEDIUM_MAX) for _ in range(n_medium)]
        + [rng.randint(LARGE_MIN, LARGE_MAX) for _ in range(n_large)]
    )
    rng.shuffle(sizes)  # mix the size classes across directories

    dirs = build_dirs(root, n_dirs)
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)

    buf_len = max(sizes) + 4 * MIB
    buf = rng.randbytes(buf_len)
    view = memoryview(buf)

    total = 0
    for idx, size in enumerate(sizes):
        d = dirs[rng.randrange(len(dirs))]
        ext = EXTS[rng.randrange(len(EXTS))]
        path = os.path.join(root, d, f"f{idx:06d}{ext}")
        header = f"vigil-bench seed={args.seed} file={idx:06d}\n".encode()
        body_len = size - len(header)
        off = rng.randrange(buf_len - body_len)
        with open(path, "wb") as f:
            f.write(header)
            f.write(view[off : off + body_len])
        total += size

    print(
        f"corpus {root}: files={len(sizes)} dirs={len(dirs)} "
        f"bytes={total} ({total / MIB:.1f} MiB) "
        f"[small={n_small} medium={n_medium} large={n_large}] seed={args.seed} scale={args.scale}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
