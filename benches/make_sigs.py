#!/usr/bin/env python3
"""Write benchmark signature databases for a corpus made by make_corpus.py.

Usage: python3 benches/make_sigs.py CORPUS OUTDIR [--seed N] [--every K] [--total N]
       python3 benches/make_sigs.py --feed SHAPE COUNT OUT [--seed N]

The second form writes a synthetic feed of COUNT random signatures, named as
real feeds name them, for benches/sigs_scale.sh (see `feed` below).

Picks every K-th file (default 400) of CORPUS in sorted relative-path order
(~50 files for the default corpus) and writes into OUTDIR:

  all-blake3.vsig    vigil native   blake3:HEX:*:Bench.Blake3.N
  all-sha256.hsb     ClamAV         SHA256HEX:*:Bench.Sha256.N:73
  sha256-hashes.txt  sha256sum-format `HEX  RELPATH` lines (for sha256deep -m;
                     hashdeep 4.4 rejects a bare list of hashes)
  sized-md5.hdb      ClamAV         MD5HEX:SIZE:Bench.Md5.N, --total lines
                     (default 100,000): the picked files' real md5 + true
                     size, plus random md5s whose sizes come from 40
                     distinct sizes that no corpus file has, interleaved
                     with real sizes (so a scanner with an exact size-set
                     prefilter opens almost no files).
  picked-files.txt   the picked files (relative path, size), for reference

BLAKE3 is computed with the `b3sum` binary (PATH or ~/.cargo/bin), batching
many files per invocation, or with the python `blake3` module if installed.
Deterministic for a given corpus and seed. Standard library only otherwise.
"""

import argparse
import hashlib
import math
import os
import random
import shutil
import subprocess
import sys

N_FAKE_SIZES = 40


def list_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) and not os.path.islink(full):
                out.append(os.path.relpath(full, root))
    out.sort()
    return out


def file_digests(path):
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def find_b3sum():
    exe = shutil.which("b3sum")
    if exe:
        return exe
    cand = os.path.expanduser("~/.cargo/bin/b3sum")
    return cand if os.access(cand, os.X_OK) else None


def blake3_many(paths, batch=256):
    """Return {path: blake3 hex} for the given absolute paths."""
    exe = find_b3sum()
    result = {}
    if exe:
        for i in range(0, len(paths), batch):
            chunk = paths[i : i + batch]
            out = subprocess.run(
                [exe, "--no-names", "--"] + chunk, check=True, capture_output=True, text=True
            ).stdout.split()
            if len(out) != len(chunk):
                raise SystemExit(f"b3sum returned {len(out)} hashes for {len(chunk)} files")
            result.update(zip(chunk, out))
        return result
    try:
        import blake3  # type: ignore
    except ImportError:
        raise SystemExit("need the b3sum binary (cargo install b3sum) or `pip install blake3`")
    for p in paths:
        h = blake3.blake3()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        result[p] = h.hexdigest()
    return result


# Feeds as ClamAV ships them: every signature has a name of its own,
# PLATFORM.CATEGORY.FAMILY-ID-REVISION, with a signature id that rises
# through the file (gaps of 1 to 3) and a revision that is mostly 0.
PLATFORMS = ["Win", "Unix", "Doc", "Xls", "Html", "Js", "Andr", "Osx", "Pdf", "Email", "Txt", "Java"]
CATEGORIES = ["Trojan", "Malware", "Downloader", "Exploit", "Worm", "Virus", "Adware",
              "Ransomware", "Phishing", "Packed", "Dropper", "Keylogger", "Spyware", "Coinminer"]
SYLLABLES = ["ag", "ent", "zb", "ot", "em", "ot", "et", "qak", "bot", "ur", "sn", "if", "rar",
             "dr", "id", "ex", "lo", "ki", "mir", "ai", "gen", "ic", "fa", "reit", "ne", "ris"]


class FeedNames:
    """Unique ClamAV-style names: 3,000 families, Zipf-like (a handful such
    as Agent and Generic name most signatures), ids rising through the feed."""

    def __init__(self, rng):
        self.rng = rng
        families = ["Agent", "Generic", "GenericKD", "Zbot", "Emotet", "Downloader"]
        while len(families) < 3000:
            w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
            if w not in families:
                families.append(w)
        self.weights = [1.0 / (i + 1) for i in range(len(families))]
        self.stems = [f"{rng.choice(PLATFORMS)}.{rng.choice(CATEGORIES)}.{f}" for f in families]
        self.sid = 400_000

    def take(self, count):
        rng = self.rng
        out = []
        for stem in rng.choices(self.stems, weights=self.weights, k=count):
            self.sid += rng.randint(1, 3)
            rev = 0 if rng.random() < 0.9 else rng.randint(1, 3)
            out.append(f"{stem}-{self.sid}-{rev}")
        return out


def write_feed(shape, count, out, seed):
    """shape: sha256-unique (.hsb, `*` sizes), md5-unique (.hdb, sized) or
    sha256-repeated (.hsb, `*` sizes, 1,000 names used over and over)."""
    rng = random.Random(seed)
    batch = 200_000
    with open(out + ".tmp", "w", encoding="ascii", newline="\n") as f:
        f.write(f"# generated {shape} feed, {count} signatures (benches/make_sigs.py)\n")
        done = 0
        repeated = [f"Feed.Family{i}" for i in range(1000)]
        unique = FeedNames(rng)
        while done < count:
            k = min(batch, count - done)
            if shape == "sha256-repeated":
                names = [repeated[(done + i) % 1000] for i in range(k)]
            else:
                names = unique.take(k)
            if shape == "md5-unique":
                blob = rng.randbytes(16 * k).hex()
                # File sizes, log-uniform from 100 bytes to 10 MB: mostly distinct.
                sizes = [int(math.exp(rng.uniform(4.6, 16.1))) for _ in range(k)]
                f.write("".join(f"{blob[32*i:32*i+32]}:{sizes[i]}:{names[i]}\n" for i in range(k)))
            else:
                blob = rng.randbytes(32 * k).hex()
                f.write("".join(f"{blob[64*i:64*i+64]}:*:{names[i]}:73\n" for i in range(k)))
            done += k
    os.replace(out + ".tmp", out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--feed"]:
        fp = argparse.ArgumentParser(description="write a synthetic feed")
        fp.add_argument("shape", choices=["sha256-unique", "md5-unique", "sha256-repeated"])
        fp.add_argument("count", type=int)
        fp.add_argument("out")
        fp.add_argument("--seed", type=int, default=7)
        a = fp.parse_args(argv[1:])
        write_feed(a.shape, a.count, a.out, a.seed)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=int, default=400, help="pick every K-th file (default 400)")
    ap.add_argument("--total", type=int, default=100_000, help="lines in sized-md5.hdb")
    args = ap.parse_args(argv)

    rels = list_files(args.corpus)
    if not rels:
        raise SystemExit(f"no files under {args.corpus}")
    os.makedirs(args.outdir, exist_ok=True)
    rng = random.Random(args.seed)

    picked = rels[:: args.every]
    abs_picked = [os.path.abspath(os.path.join(args.corpus, r)) for r in picked]
    sizes = {r: os.path.getsize(os.path.join(args.corpus, r)) for r in rels}
    b3 = blake3_many(abs_picked)

    real = []  # (rel, size, md5, sha256, blake3)
    for rel, ap_ in zip(picked, abs_picked):
        md5, sha = file_digests(ap_)
        real.append((rel, sizes[rel], md5, sha, b3[ap_]))

    def w(name):
        return open(os.path.join(args.outdir, name), "w", encoding="ascii", newline="\n")

    with w("picked-files.txt") as f:
        for rel, size, *_ in real:
            f.write(f"{rel}\t{size}\n")

    with w("all-blake3.vsig") as f:
        for i, (_, _, _, _, b) in enumerate(real):
            f.write(f"blake3:{b}:*:Bench.Blake3.{i}\n")

    with w("all-sha256.hsb") as f, w("sha256-hashes.txt") as g:
        for i, (rel, _, _, s, _) in enumerate(real):
            f.write(f"{s}:*:Bench.Sha256.{i}:73\n")
            # sha256sum format: hashdeep 4.4's -m rejects a bare list of
            # hashes ("Unable to find any hashes in file"), it needs a name.
            g.write(f"{s}  {rel}\n")

    # Sizes that no corpus file has, interleaved with real sizes (half among
    # the small files, half up to the medium files' maximum) so that a simple
    # min/max range check cannot reject them; only an exact size set can.
    used = set(sizes.values())
    lo, hi = min(used), max(used)
    ranges = [(lo, min(hi, 16 * 1024)), (lo, min(hi, 1024 * 1024))]
    fake_sizes = set()
    while len(fake_sizes) < N_FAKE_SIZES:
        a, b = ranges[len(fake_sizes) % 2]
        s = rng.randint(a, b)
        if s not in used:
            fake_sizes.add(s)
    fake_sizes = sorted(fake_sizes)
    assert not (set(fake_sizes) & used)

    n_fake = max(0, args.total - len(real))
    real_md5 = {m for _, _, m, _, _ in real}
    lines = [(m, size, f"Bench.Md5.{i}") for i, (_, size, m, _, _) in enumerate(real)]
    seen = set(real_md5)
    j = len(real)
    while len(lines) < len(real) + n_fake:
        m = rng.getrandbits(128).to_bytes(16, "big").hex()
        if m in seen:
            continue
        seen.add(m)
        lines.append((m, fake_sizes[rng.randrange(N_FAKE_SIZES)], f"Bench.Md5.{j}"))
        j += 1
    rng.shuffle(lines)
    with w("sized-md5.hdb") as f:
        for m, size, name in lines:
            f.write(f"{m}:{size}:{name}\n")

    print(
        f"sigs {args.outdir}: corpus_files={len(rels)} picked={len(real)} "
        f"(every {args.every}th) sized-md5.hdb lines={len(lines)} "
        f"fake_sizes={len(fake_sizes)} ({fake_sizes[0]}..{fake_sizes[-1]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
