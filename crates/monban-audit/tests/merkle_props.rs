//! Randomised property tests (fixed seeds) for the Merkle tree: roots against a naive recursive
//! definition, every inclusion and consistency proof for many tree sizes, rejection of
//! tampered proofs, and proof cost on a 10,000,000-leaf store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::time::Instant;

use monban_audit::merkle::{
    self, consistency_proof, inclusion_proof, leaf_hash, node_hash, root_at, verify_consistency,
    verify_inclusion, Hash, HashStore, MemoryHashStore, NodeId, StoreError, EMPTY_ROOT,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

fn random_leaves(rng: &mut StdRng, n: usize) -> Vec<Hash> {
    (0..n)
        .map(|_| {
            let len = rng.gen_range(0..40);
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            leaf_hash(&data)
        })
        .collect()
}

fn flip(rng: &mut StdRng, h: &mut Hash) {
    let i = rng.gen_range(0..32);
    h[i] ^= 1 << rng.gen_range(0..8);
}

#[test]
fn every_proof_for_every_size_up_to_300() {
    let mut rng = StdRng::seed_from_u64(0x6d6f_6e62_616e);
    let leaves = random_leaves(&mut rng, 300);
    let mut store = MemoryHashStore::new();
    let mut roots = vec![EMPTY_ROOT];
    for l in &leaves {
        store.push(*l);
        roots.push(store.root());
    }
    for n in 0..=leaves.len() {
        if n <= 70 || n % 17 == 0 {
            assert_eq!(roots[n], naive_root(&leaves[..n]), "root of size {n}");
        }
        assert_eq!(root_at(&store, n as u64).unwrap(), roots[n]);
    }
    // Every (index, size) inclusion proof and every (size1, size2) consistency proof.
    for size in 1..=leaves.len() as u64 {
        let root = roots[size as usize];
        for index in 0..size {
            let p = inclusion_proof(&store, index, size).unwrap();
            verify_inclusion(index, size, &leaves[index as usize], &p, &root)
                .unwrap_or_else(|e| panic!("inclusion {index}/{size}: {e}"));
        }
        for size1 in 1..=size {
            let p = consistency_proof(&store, size1, size).unwrap();
            verify_consistency(size1, size, &roots[size1 as usize], &root, &p)
                .unwrap_or_else(|e| panic!("consistency {size1}->{size}: {e}"));
        }
    }
}

#[test]
fn tampered_proofs_are_rejected() {
    let mut rng = StdRng::seed_from_u64(7);
    let leaves = random_leaves(&mut rng, 257);
    let mut store = MemoryHashStore::new();
    let mut roots = vec![EMPTY_ROOT];
    for l in &leaves {
        store.push(*l);
        roots.push(store.root());
    }
    for _ in 0..3000 {
        let size = rng.gen_range(1..=leaves.len() as u64);
        let index = rng.gen_range(0..size);
        let root = roots[size as usize];
        let mut p = inclusion_proof(&store, index, size).unwrap();
        let leaf = leaves[index as usize];
        // Wrong index, proof for the wrong tree, wrong leaf, flipped proof hash, extra or missing hash.
        if size > 1 {
            let other = (index + rng.gen_range(1..size)) % size;
            assert!(verify_inclusion(other, size, &leaf, &p, &root).is_err());
        }
        if (size as usize) < leaves.len() {
            let next_root = roots[size as usize + 1];
            assert!(verify_inclusion(index, size + 1, &leaf, &p, &next_root).is_err());
        }
        let mut bad_leaf = leaf;
        flip(&mut rng, &mut bad_leaf);
        assert!(verify_inclusion(index, size, &bad_leaf, &p, &root).is_err());
        if !p.is_empty() {
            let i = rng.gen_range(0..p.len());
            let mut q = p.clone();
            flip(&mut rng, &mut q[i]);
            assert!(verify_inclusion(index, size, &leaf, &q, &root).is_err());
            q = p.clone();
            q.pop();
            assert!(verify_inclusion(index, size, &leaf, &q, &root).is_err());
        }
        p.push(leaf);
        assert!(verify_inclusion(index, size, &leaf, &p, &root).is_err());

        let size1 = rng.gen_range(1..=size);
        let mut c = consistency_proof(&store, size1, size).unwrap();
        let (r1, r2) = (roots[size1 as usize], root);
        let mut bad = r1;
        flip(&mut rng, &mut bad);
        assert!(verify_consistency(size1, size, &bad, &r2, &c).is_err());
        assert!(verify_consistency(size1, size, &r1, &bad, &c).is_err());
        if size1 < size {
            assert!(verify_consistency(size1 + 1, size, &r1, &r2, &c).is_err());
            let i = rng.gen_range(0..c.len());
            let mut d = c.clone();
            flip(&mut rng, &mut d[i]);
            assert!(verify_consistency(size1, size, &r1, &r2, &d).is_err());
            d = c.clone();
            d.pop();
            assert!(verify_consistency(size1, size, &r1, &r2, &d).is_err());
        }
        c.push(r1);
        assert!(verify_consistency(size1, size, &r1, &r2, &c).is_err());
    }
}

#[test]
fn plan_append_in_random_batches_matches_push() {
    let mut rng = StdRng::seed_from_u64(99);
    for _ in 0..20 {
        let n = rng.gen_range(0..300);
        let leaves = random_leaves(&mut rng, n);
        let mut a = MemoryHashStore::new();
        let mut b = MemoryHashStore::new();
        let mut i = 0;
        while i < n {
            let k = rng.gen_range(1..=(n - i).min(40));
            let batch = &leaves[i..i + k];
            for l in batch {
                a.push(*l);
            }
            let edge = b.node_hashes(&merkle::right_edge_ids(i as u64)).unwrap();
            let plan = merkle::plan_append(i as u64, &edge, batch).unwrap();
            assert_eq!(plan.root, naive_root(&leaves[..i + k]));
            b.insert_nodes(&plan.nodes).unwrap();
            i += k;
        }
        assert_eq!(a.root(), b.root());
        assert_eq!(a.root(), naive_root(&leaves));
    }
}

/// A store pretending to hold a huge tree: returns a deterministic hash per node id and counts
/// reads. Proof cost does not depend on the hash values.
struct SyntheticStore {
    reads: Cell<usize>,
}

impl HashStore for SyntheticStore {
    fn node_hash(&self, id: NodeId) -> Result<Hash, StoreError> {
        self.reads.set(self.reads.get() + 1);
        let mut data = [0u8; 9];
        data[0] = id.level;
        data[1..].copy_from_slice(&id.index.to_be_bytes());
        Ok(leaf_hash(&data))
    }
}

#[test]
fn proofs_on_ten_million_leaves_read_o_log_n_nodes() {
    let store = SyntheticStore {
        reads: Cell::new(0),
    };
    let size = 10_000_000u64;
    let mut rng = StdRng::seed_from_u64(1);
    let start = Instant::now();
    let rounds = 200;
    for _ in 0..rounds {
        let index = rng.gen_range(0..size);
        store.reads.set(0);
        let p = inclusion_proof(&store, index, size).unwrap();
        assert!(p.len() <= 25, "proof length {}", p.len());
        assert!(
            store.reads.get() <= 48,
            "inclusion read {} nodes",
            store.reads.get()
        );
        store.reads.set(0);
        let size1 = rng.gen_range(1..size);
        let c = consistency_proof(&store, size1, size).unwrap();
        assert!(c.len() <= 50);
        assert!(
            store.reads.get() <= 96,
            "consistency read {} nodes",
            store.reads.get()
        );
    }
    let per = start.elapsed() / (rounds * 2);
    eprintln!("proof generation on 10M leaves: {per:?} per proof");
    // Speed is measured in docs/benchmarks.md, never asserted here.
}

/// Builds a real 10,000,000-leaf in-memory tree (about 640 MB) and times proofs.
/// Run with `cargo test -p monban-audit --release -- --ignored`.
#[test]
#[ignore]
fn real_ten_million_leaf_tree() {
    let n = 10_000_000u64;
    let mut store = MemoryHashStore::new();
    for i in 0..n {
        store.push(leaf_hash(&i.to_be_bytes()));
    }
    let root = store.root();
    let mut rng = StdRng::seed_from_u64(2);
    let start = Instant::now();
    for _ in 0..1000 {
        let index = rng.gen_range(0..n);
        let p = inclusion_proof(&store, index, n).unwrap();
        verify_inclusion(index, n, &leaf_hash(&index.to_be_bytes()), &p, &root).unwrap();
    }
    let per = start.elapsed() / 1000;
    eprintln!("prove+verify on a real 10M-leaf tree: {per:?}");
}
