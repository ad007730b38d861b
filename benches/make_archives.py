#!/usr/bin/env python3
"""Generate a deterministic tree of zip archives for the container throughput bench.

Usage: python3 benches/make_archives.py DIR [--seed N] [--zips N] [--members N]

At the defaults the tree holds 200 zips of 50 members each (10,000 members,
about 300 MiB once unpacked), in 10 folders:
  * 90% small members of 1-16 KiB, 9.5% of 32-256 KiB, 0.5% of 1-2.5 MiB;
  * half the members are text-like (they compress about 3:1), half random
    (they do not); most are deflated, one in eight is stored;
  * a few members are planted payloads: 4 zips hold one at the top level and
    one zip holds a zip that holds one (depth 2).

Also writes DIR/../archives-db/planted.hsb (sha256:size:name, one line per
payload) and DIR/../archives-db/expected.txt (the zips a scanner with that
database must report, one path a line, sorted). Every member's content is
distinct. Same seed => byte-identical archives. Standard library only.
"""

import argparse
import hashlib
import io
import os
import random
import sys
import zipfile

KIB = 1024
MIB = 1024 * KIB

WORDS = (
    "the of and to in is was for on that with as by at from his her this be are "
    "archive member payload signature scanner folder stream header record block "
    "vigil clamd daemon socket worker thread queue budget limit format deflate"
).split()


def member_size(rng):
    r = rng.random()
    if r < 0.90:
        return rng.randint(1 * KIB, 16 * KIB)
    if r < 0.995:
        return rng.randint(32 * KIB, 256 * KIB)
    return rng.randint(1 * MIB, 5 * MIB // 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="output directory (created; must be empty or absent)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--zips", type=int, default=200)
    ap.add_argument("--members", type=int, default=50)
    args = ap.parse_args(argv)

    root = os.path.abspath(args.dir)
    if os.path.exists(root) and os.listdir(root):
        ap.error(f"{root} exists and is not empty")
    dbdir = os.path.join(os.path.dirname(root), "archives-db")
    os.makedirs(root, exist_ok=True)
    os.makedirs(dbdir, exist_ok=True)

    rng = random.Random(args.seed)
    rand_buf = rng.randbytes(8 * MIB)
    text = " ".join(rng.choice(WORDS) for _ in range(2 * MIB)).encode()
    text_buf = (text * (8 * MIB // len(text) + 1))[: 8 * MIB]

    def content(tag, size):
        header = f"vigil-archives seed={args.seed} {tag}\n".encode()
        src = rand_buf if rng.random() < 0.5 else text_buf
        body = max(0, size - len(header))
        off = rng.randrange(len(src) - body)
        return header + src[off : off + body]

    # Planted payloads: distinct random contents of distinct sizes.
    payloads = [content(f"payload={i}", 3000 + 777 * i) for i in range(3)]
    plant_top = {z: i % 2 for i, z in enumerate(rng.sample(range(args.zips), 5))}
    nested = sorted(plant_top)[-1]
    plant_top = {z: p for z, p in plant_top.items() if z != nested}

    total = 0
    expected = []
    for z in range(args.zips):
        folder = os.path.join(root, f"d{z % 10}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"a{z:03d}.zip")
        members = []
        for m in range(args.members):
            members.append((f"m{m:02d}/f{m:03d}.dat", content(f"zip={z} member={m}", member_size(rng))))
        if z in plant_top:
            members[rng.randrange(len(members))] = (f"planted{z}.exe", payloads[plant_top[z]])
        if z == nested:
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as iz:
                iz.writestr("readme.txt", content("inner", 2000))
                iz.writestr("inner/planted.exe", payloads[2])
            members[rng.randrange(len(members))] = ("inner.zip", inner.getvalue())
        if z in plant_top or z == nested:
            expected.append(path)
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                method = zipfile.ZIP_STORED if rng.random() < 0.125 else zipfile.ZIP_DEFLATED
                zf.writestr(name, data, compress_type=method)
                total += len(data)

    with open(os.path.join(dbdir, "planted.hsb"), "w") as f:
        for i, p in enumerate(payloads):
            f.write(f"{hashlib.sha256(p).hexdigest()}:{len(p)}:Bench.Planted.{i}\n")
    with open(os.path.join(dbdir, "expected.txt"), "w") as f:
        f.write("".join(p + "\n" for p in sorted(expected)))

    print(
        f"archives {root}: zips={args.zips} members={args.zips * args.members} "
        f"unpacked={total} ({total / MIB:.1f} MiB) planted in {len(expected)} zips; "
        f"database {dbdir}/planted.hsb seed={args.seed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
