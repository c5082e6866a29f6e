//! 1:N search: brute-force dot products over one contiguous f32 matrix of templates.

use crate::recognize::{dot, Embedding, DIM};

/// Who a template belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOwner {
    /// The opaque template reference stored in the credential (`face_template_ref`).
    pub template_ref: String,
    /// The person.
    pub person_id: i64,
    /// The face credential's id, when known.
    pub credential_id: Option<i64>,
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub owner: TemplateOwner,
    pub score: f32,
}

/// Enrolled templates, row-major `len × 128`.
#[derive(Debug, Clone, Default)]
pub struct Gallery {
    data: Vec<f32>,
    owners: Vec<TemplateOwner>,
}

impl Gallery {
    /// An empty gallery.
    pub fn new() -> Self {
        Self::default()
    }

    /// With room for `n` templates.
    pub fn with_capacity(n: usize) -> Self {
        Gallery {
            data: Vec::with_capacity(n * DIM),
            owners: Vec::with_capacity(n),
        }
    }

    /// Adds a template.
    pub fn push(&mut self, owner: TemplateOwner, e: &Embedding) {
        self.data.extend_from_slice(&e.0);
        self.owners.push(owner);
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// The template with this reference.
    pub fn get(&self, template_ref: &str) -> Option<(&TemplateOwner, &[f32])> {
        let i = self
            .owners
            .iter()
            .position(|o| o.template_ref == template_ref)?;
        Some((&self.owners[i], &self.data[i * DIM..(i + 1) * DIM]))
    }

    /// The best-scoring template, whatever its score.
    pub fn best(&self, q: &Embedding) -> Option<Hit> {
        let mut best: Option<(usize, f32)> = None;
        for (i, row) in self.data.chunks_exact(DIM).enumerate() {
            let s = dot(row, &q.0);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, score)| Hit {
            owner: self.owners[i].clone(),
            score,
        })
    }

    /// The `k` best templates, best first.
    pub fn top_k(&self, q: &Embedding, k: usize) -> Vec<Hit> {
        let mut all: Vec<(usize, f32)> = self
            .data
            .chunks_exact(DIM)
            .map(|row| dot(row, &q.0))
            .enumerate()
            .collect();
        let k = k.min(all.len());
        if k == 0 {
            return Vec::new();
        }
        all.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        all.truncate(k);
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.into_iter()
            .map(|(i, score)| Hit {
                owner: self.owners[i].clone(),
                score,
            })
            .collect()
    }

    /// The templates of one person.
    pub fn of_person(&self, person_id: i64) -> impl Iterator<Item = &TemplateOwner> {
        self.owners.iter().filter(move |o| o.person_id == person_id)
    }

    /// Score against one template (1:1), if present.
    pub fn verify(&self, template_ref: &str, q: &Embedding) -> Option<f32> {
        self.get(template_ref).map(|(_, row)| dot(row, &q.0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn e(i: usize) -> Embedding {
        let mut v = [0.01f32; DIM];
        v[i] = 1.0;
        Embedding::from_raw(&v).unwrap()
    }

    #[test]
    fn finds_the_right_template() {
        let mut g = Gallery::new();
        for i in 0..10 {
            g.push(
                TemplateOwner {
                    template_ref: format!("t{i}"),
                    person_id: i as i64,
                    credential_id: None,
                },
                &e(i),
            );
        }
        let hit = g.best(&e(7)).unwrap();
        assert_eq!(hit.owner.person_id, 7);
        assert!(hit.score > 0.99);
        let top = g.top_k(&e(3), 3);
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].owner.person_id, 3);
        assert!(g.verify("t3", &e(3)).unwrap() > 0.99);
        assert!(g.verify("t3", &e(4)).unwrap() < 0.1);
        assert!(g.verify("nope", &e(4)).is_none());
        assert!(Gallery::new().best(&e(1)).is_none());
    }
}
