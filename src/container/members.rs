//! What unpacking a container saw, member by member, kept so that an
//! unchanged container can be judged again — against the same signatures or
//! new ones — without being read: the verdict cache stores it beside the
//! file's own digests.
//!
//! A `Members` is recorded by an unpacking that no signature steered: no
//! member was detected or allow-listed on the way, so every member was
//! looked at, in the order the unpacker looks at them. `replay` then walks
//! that record as the unpacker would walk the container with a given set:
//! the first member that set detects is the file's detection, with the same
//! member names, and the totals (containers, members, the limit reached) are
//! those the unpacker would have reported at that point. Where a set would
//! have steered the unpacker away from what was recorded (an allow-listed
//! container it would not have opened, a limit that might not have been
//! reached), `replay` gives no answer and the container is read again.

use std::hash::Hasher;

use crate::hash::{AlgoSet, Digests};
use crate::signature::{Lookup, SignatureSet};

use super::{Exceeded, Found, Limits};

/// Members recorded per container file, at most; past this the container is
/// not remembered and is read at every scan.
pub const MAX_MEMBERS: usize = 1_000;
/// Bytes of member names and digests recorded per container file, at most.
pub const MAX_BYTES: usize = 64 << 10;
/// Bytes one member costs beside its names and digests, for `MAX_BYTES`.
const MEMBER_OVERHEAD: usize = 16;

/// One member, as the unpacker matched it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Names from the top-level file down to this member.
    pub chain: Vec<Box<[u8]>>,
    pub size: u64,
    /// The digests computed for it (the algorithms the set needed then).
    pub digests: Digests,
    /// Held in memory whole: matched before what it holds was unpacked.
    /// Otherwise streamed: matched after.
    pub held: bool,
    /// Its first bytes made it a container.
    pub container: bool,
    /// Containers opened and members counted when it was matched.
    pub containers: u64,
    pub members: u64,
}

impl Member {
    /// The algorithms the unpacker computes for this member with `sigs`.
    fn needs(&self, sigs: &SignatureSet) -> AlgoSet {
        if self.held {
            held_algorithms(sigs, self.size, self.container)
        } else {
            sigs.algorithms_for_unknown_size()
        }
    }
}

/// The algorithms computed for a member held whole: what the set needs for
/// its size, plus, for a container, whatever its allow-list could match.
pub(crate) fn held_algorithms(sigs: &SignatureSet, size: u64, container: bool) -> AlgoSet {
    let mut algos = sigs.algorithms_for_size(size);
    if container {
        algos = algos.union(sigs.allow_algorithms_for_size(size));
    }
    algos
}

/// What unpacking one container file saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Members {
    /// The limits it was unpacked with (`fingerprint`): with others, the
    /// record says nothing.
    pub limits: u64,
    /// Every member matched, in the order they were.
    pub list: Vec<Member>,
    /// The first limit that cut the unpacking short, and how many members
    /// had been matched when it did.
    pub exceeded: Option<(Exceeded, u64)>,
    /// Containers opened and members counted in all.
    pub containers: u64,
    pub members: u64,
}

/// What `replay` found: what unpacking the file with that set would have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    pub found: Option<Found>,
    pub exceeded: Option<Exceeded>,
    pub containers: u64,
    pub members: u64,
}

/// A number that changes when any limit that shapes an unpacking does
/// (`alert_exceeds_max` does not: it only decides how a limit is reported).
pub fn fingerprint(limits: &Limits) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.write_u8(u8::from(limits.enabled));
    h.write_u32(limits.max_recursion);
    for n in [
        limits.max_files,
        limits.max_scansize,
        limits.max_filesize,
        limits.max_ratio,
        limits.item_memory,
    ] {
        h.write_u64(n);
    }
    h.finish()
}

/// Whether the record holds every digest `sigs` needs of every member:
/// reading the container again for `sigs` would add nothing to it.
pub fn covers(sigs: &SignatureSet, members: &Members) -> bool {
    members
        .list
        .iter()
        .all(|m| m.needs(sigs).is_subset(m.digests.algorithms()))
}

/// Judges a container from what was recorded of it, with `sigs`, as
/// unpacking it would: `None` if the record cannot tell (a member needs an
/// algorithm not recorded, or the set would have steered the unpacking
/// away from the record).
pub fn replay(sigs: &SignatureSet, members: &Members) -> Option<Replayed> {
    let list = &members.list;
    for (i, m) in list.iter().enumerate() {
        match judge(sigs, m)? {
            Lookup::Clean => {}
            // A container on the allow-list held whole is not opened: what
            // was recorded inside it, and the limits its contents reached,
            // would not have been.
            Lookup::Allowed if m.held && m.container => return None,
            // Streamed, it was unpacked first, and nothing inside matched.
            Lookup::Allowed => {}
            Lookup::Detected(found) => return detected(sigs, members, i, found),
        }
    }
    Some(Replayed {
        found: None,
        exceeded: members.exceeded.map(|(e, _)| e),
        containers: members.containers,
        members: members.members,
    })
}

/// The unpacking stopped at member `i`, detected as `found`.
fn detected(
    sigs: &SignatureSet,
    members: &Members,
    i: usize,
    found: crate::signature::Match<'_>,
) -> Option<Replayed> {
    let list = &members.list;
    let m = &list[i];
    // The streamed containers around it are matched after it: one on the
    // allow-list clears the detection, and the unpacker would go on with
    // what the record cannot show.
    let around = list[i + 1..]
        .iter()
        .filter(|a| !a.held && a.chain.len() < m.chain.len() && m.chain.starts_with(&a.chain));
    for a in around {
        if let Lookup::Allowed = judge(sigs, a)? {
            return None;
        }
    }
    let exceeded = match members.exceeded {
        Some((e, at)) if at <= i as u64 => Some(e),
        // Reached after the detection: the unpacker stops at it, unless
        // a streamed container around it is still read to its end, which
        // may or may not reach the limit again.
        Some(_) if !all_held_around(list, i) => return None,
        _ => None,
    };
    Some(Replayed {
        found: Some(Found {
            signature: found.label(),
            official: found.official,
            digest: found.digest,
            size: m.size,
            member: m.chain.clone(),
        }),
        exceeded,
        containers: m.containers,
        members: m.members,
    })
}

/// Whether every container around member `i` was held whole (recorded
/// before it), so nothing is read once it is detected.
fn all_held_around(list: &[Member], i: usize) -> bool {
    let chain = &list[i].chain;
    (1..chain.len()).all(|depth| {
        list[..i]
            .iter()
            .any(|a| a.held && a.chain.len() == depth && chain.starts_with(&a.chain))
    })
}

/// One member matched with `sigs` on the algorithms the unpacker would
/// compute for it now; `None` if one of them was not recorded.
fn judge<'s>(sigs: &'s SignatureSet, m: &Member) -> Option<Lookup<'s>> {
    let needs = m.needs(sigs);
    if !needs.is_subset(m.digests.algorithms()) {
        return None;
    }
    Some(sigs.lookup(&only(&m.digests, needs), m.size))
}

/// The digests of `algos` among `digests`.
pub fn only(digests: &Digests, algos: AlgoSet) -> Digests {
    let mut out = Digests::default();
    for d in digests.iter().filter(|d| algos.contains(d.algorithm())) {
        out.insert(*d);
    }
    out
}

/// Members being recorded while a container is unpacked.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    pub(crate) list: Vec<Member>,
    /// Bytes of names and digests so far, for `MAX_BYTES`.
    bytes: usize,
    /// Past `MAX_MEMBERS` or `MAX_BYTES`: nothing more is kept.
    pub(crate) too_many: bool,
    /// A member was detected or allow-listed: the set steered the walk.
    pub(crate) steered: bool,
}

impl Recording {
    pub(crate) fn push(&mut self, m: Member) {
        if self.too_many {
            return;
        }
        let names: usize = m.chain.iter().map(|n| n.len()).sum();
        let digests: usize = m.digests.iter().map(|d| d.as_bytes().len()).sum();
        self.bytes += names + digests + MEMBER_OVERHEAD;
        let deep = m.chain.len() > usize::from(u8::MAX);
        if deep || self.list.len() >= MAX_MEMBERS || self.bytes > MAX_BYTES {
            self.too_many = true;
            self.list = Vec::new();
            return;
        }
        self.list.push(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::signature::{SigLine, SignatureSetBuilder};

    /// A set detecting `detect` and allowing `allow` (sha256, any size).
    fn set(detect: &[&[u8]], allow: &[&[u8]]) -> SignatureSet {
        let mut b = SignatureSetBuilder::new();
        for (list, allowed) in [(detect, false), (allow, true)] {
            for data in list {
                let sig = SigLine {
                    digest: hash_bytes(Algorithm::Sha256, data),
                    size: None,
                    name: "Sig",
                };
                b.add(&sig, allowed).unwrap();
            }
        }
        b.build()
    }

    /// A member named `chain` holding `data`, the `n`th matched.
    fn member(chain: &[&str], data: &[u8], held: bool, container: bool, n: u64) -> Member {
        let mut digests = Digests::default();
        digests.insert(hash_bytes(Algorithm::Sha256, data));
        Member {
            chain: chain.iter().map(|s| s.as_bytes().into()).collect(),
            size: data.len() as u64,
            digests,
            held,
            container,
            containers: n,
            members: n,
        }
    }

    /// `outer.tar.gz` streamed (matched after what it holds), holding
    /// `a` and `b`; then `c.zip` held whole, holding `d`. A limit was
    /// reached after the third member was matched.
    fn record() -> Members {
        Members {
            limits: 0,
            list: vec![
                member(&["outer.tar.gz", "a"], b"a", true, false, 1),
                member(&["outer.tar.gz", "b"], b"b", true, false, 2),
                member(&["outer.tar.gz"], b"outer", false, true, 3),
                member(&["c.zip"], b"c", true, true, 4),
                member(&["c.zip", "d"], b"d", true, false, 5),
            ],
            exceeded: Some((Exceeded::MaxFiles, 3)),
            containers: 3,
            members: 5,
        }
    }

    #[test]
    fn the_first_member_detected_is_the_files_detection_with_the_totals_then() {
        let r = replay(&set(&[b"d"], &[]), &record()).unwrap();
        let found = r.found.unwrap();
        assert_eq!(
            found.member,
            vec![Box::from(&b"c.zip"[..]), b"d"[..].into()]
        );
        assert_eq!((r.containers, r.members), (5, 5));
        assert_eq!(r.exceeded, Some(Exceeded::MaxFiles), "reached before it");

        // Detected before the limit was reached, in a streamed container
        // read to its end after the detection: the record cannot tell.
        assert_eq!(replay(&set(&[b"a"], &[]), &record()), None);
        let mut no_limit = record();
        no_limit.exceeded = None;
        let r = replay(&set(&[b"a"], &[]), &no_limit).unwrap();
        assert_eq!((r.containers, r.members, r.exceeded), (1, 1, None));
    }

    #[test]
    fn nothing_detected_gives_the_totals_of_the_whole_unpacking() {
        let r = replay(&set(&[b"elsewhere"], &[]), &record()).unwrap();
        assert_eq!(
            r,
            Replayed {
                found: None,
                exceeded: Some(Exceeded::MaxFiles),
                containers: 3,
                members: 5
            }
        );
    }

    #[test]
    fn where_the_allow_list_would_steer_the_unpacking_the_record_cannot_tell() {
        // A held container on the allow-list is not opened.
        assert_eq!(replay(&set(&[b"d"], &[b"c"]), &record()), None);
        // A streamed one clears what was found inside it, and the
        // unpacker goes on past what the record shows.
        let mut no_limit = record();
        no_limit.exceeded = None;
        assert_eq!(replay(&set(&[b"a"], &[b"outer"]), &no_limit), None);
        // An allow-listed member that holds nothing changes nothing.
        let r = replay(&set(&[b"d"], &[b"b"]), &record()).unwrap();
        assert!(r.found.is_some());
    }

    #[test]
    fn a_member_needing_an_algorithm_not_recorded_is_read_again() {
        let mut b = SignatureSetBuilder::new();
        let sig = SigLine {
            digest: hash_bytes(Algorithm::Md5, b"d"),
            size: None,
            name: "ByMd5",
        };
        b.add(&sig, false).unwrap();
        let sigs = b.build();
        assert!(!covers(&sigs, &record()));
        assert_eq!(replay(&sigs, &record()), None);
    }
}
