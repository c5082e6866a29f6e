//! A synthetic face mask painted from the landmarks over nose and mouth, to measure how
//! recognition holds up when people wear masks (NIST NISTIR 8311 did the same).

use image::{Rgb, RgbImage};

use crate::detect::{Face, Point};

/// A typical light-blue surgical mask.
pub const MASK_BLUE: Rgb<u8> = Rgb([172, 205, 228]);

/// The mask outline in face coordinates: `u` along the eye line (−left … +right, in eye
/// distances from the eyes' midpoint), `v` downwards (eye distances below the eye line). The top
/// edge sits on the bridge of the nose, the bottom under the chin.
const OUTLINE: [(f32, f32); 12] = [
    (-1.00, 0.32),
    (-0.45, 0.22),
    (0.0, 0.18),
    (0.45, 0.22),
    (1.00, 0.32),
    (1.02, 0.80),
    (0.85, 1.25),
    (0.45, 1.62),
    (0.0, 1.72),
    (-0.45, 1.62),
    (-0.85, 1.25),
    (-1.02, 0.80),
];

/// The mask polygon in image pixels for a detected face.
pub fn outline(face: &Face) -> Vec<Point> {
    let [re, le, ..] = face.landmarks;
    let mid = Point {
        x: (re.x + le.x) / 2.0,
        y: (re.y + le.y) / 2.0,
    };
    let (ex, ey) = (le.x - re.x, le.y - re.y);
    let d = (ex * ex + ey * ey).sqrt().max(1.0);
    // Unit vectors along the eyes and perpendicular (downwards in an upright face).
    let (ux, uy) = (ex / d, ey / d);
    let (vx, vy) = (-uy, ux);
    OUTLINE
        .iter()
        .map(|&(u, v)| Point {
            x: mid.x + (u * ux + v * vx) * d,
            y: mid.y + (u * uy + v * vy) * d,
        })
        .collect()
}

/// Paints a mask over the face's nose and mouth, in place.
pub fn paint(img: &mut RgbImage, face: &Face, colour: Rgb<u8>) {
    fill_polygon(img, &outline(face), colour);
}

/// A copy of the image with every given face masked.
pub fn masked(img: &RgbImage, faces: &[Face]) -> RgbImage {
    let mut out = img.clone();
    for f in faces {
        paint(&mut out, f, MASK_BLUE);
    }
    out
}

/// Fills a polygon (even–odd rule) by scanlines through pixel centres.
pub fn fill_polygon(img: &mut RgbImage, poly: &[Point], colour: Rgb<u8>) {
    let (w, h) = img.dimensions();
    if poly.len() < 3 || w == 0 || h == 0 {
        return;
    }
    let ymin = poly.iter().map(|p| p.y).fold(f32::INFINITY, f32::min);
    let ymax = poly.iter().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max);
    if !ymin.is_finite() || !ymax.is_finite() {
        return;
    }
    let y0 = ymin.floor().max(0.0) as u32;
    let y1 = (ymax.ceil().max(0.0) as u32).min(h - 1);
    let mut xs = Vec::new();
    for y in y0..=y1 {
        let yc = y as f32 + 0.5;
        xs.clear();
        for i in 0..poly.len() {
            let a = poly[i];
            let b = poly[(i + 1) % poly.len()];
            if (a.y <= yc && b.y > yc) || (b.y <= yc && a.y > yc) {
                xs.push(a.x + (yc - a.y) / (b.y - a.y) * (b.x - a.x));
            }
        }
        xs.sort_by(f32::total_cmp);
        for pair in xs.chunks_exact(2) {
            let xa = (pair[0] - 0.5).ceil().max(0.0) as u32;
            let xb = (pair[1] - 0.5).floor();
            if xb < 0.0 {
                continue;
            }
            let xb = (xb as u32).min(w - 1);
            for x in xa..=xb {
                img.put_pixel(x, y, colour);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn face() -> Face {
        Face {
            x: 20.0,
            y: 20.0,
            w: 60.0,
            h: 70.0,
            landmarks: [
                Point { x: 38.0, y: 45.0 },
                Point { x: 62.0, y: 45.0 },
                Point { x: 50.0, y: 58.0 },
                Point { x: 40.0, y: 70.0 },
                Point { x: 60.0, y: 70.0 },
            ],
            score: 0.9,
        }
    }

    #[test]
    fn mask_covers_nose_and_mouth_but_not_eyes() {
        let mut img = RgbImage::new(100, 110);
        paint(&mut img, &face(), MASK_BLUE);
        assert_eq!(*img.get_pixel(50, 58), MASK_BLUE);
        assert_eq!(*img.get_pixel(50, 70), MASK_BLUE);
        assert_eq!(*img.get_pixel(40, 70), MASK_BLUE);
        assert_ne!(*img.get_pixel(38, 45), MASK_BLUE);
        assert_ne!(*img.get_pixel(62, 45), MASK_BLUE);
    }

    #[test]
    fn out_of_frame_polygon_does_not_panic() {
        let mut img = RgbImage::new(10, 10);
        let p = [
            Point { x: -50.0, y: -50.0 },
            Point { x: 500.0, y: -20.0 },
            Point { x: 30.0, y: 900.0 },
        ];
        fill_polygon(&mut img, &p, MASK_BLUE);
        let mut img = RgbImage::new(10, 10);
        let nan = [Point {
            x: f32::NAN,
            y: 1.0,
        }; 3];
        fill_polygon(&mut img, &nan, MASK_BLUE);
    }
}
