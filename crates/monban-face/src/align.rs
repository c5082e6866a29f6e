//! Five-landmark similarity alignment to the 112×112 crop SFace was trained on.

use image::{Rgb, RgbImage};

use crate::detect::Point;

/// Side of the aligned crop.
pub const CROP: u32 = 112;

/// Where the five landmarks land in the crop (ArcFace / OpenCV `alignCrop` template).
pub const TEMPLATE: [Point; 5] = [
    Point {
        x: 38.2946,
        y: 51.6963,
    },
    Point {
        x: 73.5318,
        y: 51.5014,
    },
    Point {
        x: 56.0252,
        y: 71.7366,
    },
    Point {
        x: 41.5493,
        y: 92.3655,
    },
    Point {
        x: 70.7299,
        y: 92.2041,
    },
];

/// A similarity transform `[a -b tx; b a ty]` mapping source points to destination points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    /// Least-squares similarity (rotation, uniform scale, translation; no reflection) from
    /// `src` to `dst` (Umeyama's method in closed form for two dimensions).
    pub fn estimate(src: &[Point], dst: &[Point]) -> Option<Similarity> {
        let n = src.len().min(dst.len());
        if n < 2 {
            return None;
        }
        let nf = n as f64;
        let (mut sx, mut sy, mut dx, mut dy) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..n {
            sx += f64::from(src[i].x);
            sy += f64::from(src[i].y);
            dx += f64::from(dst[i].x);
            dy += f64::from(dst[i].y);
        }
        let (sx, sy, dx, dy) = (sx / nf, sy / nf, dx / nf, dy / nf);
        let (mut num_a, mut num_b, mut var) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let (px, py) = (f64::from(src[i].x) - sx, f64::from(src[i].y) - sy);
            let (qx, qy) = (f64::from(dst[i].x) - dx, f64::from(dst[i].y) - dy);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            var += px * px + py * py;
        }
        if var <= 1e-9 || !var.is_finite() {
            return None;
        }
        let a = num_a / var;
        let b = num_b / var;
        let tx = dx - (a * sx - b * sy);
        let ty = dy - (b * sx + a * sy);
        Some(Similarity { a, b, tx, ty })
    }

    /// Applies the transform to a point.
    pub fn apply(&self, p: Point) -> Point {
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        Point {
            x: (self.a * x - self.b * y + self.tx) as f32,
            y: (self.b * x + self.a * y + self.ty) as f32,
        }
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d <= 1e-12 {
            return None;
        }
        let (ia, ib) = (self.a / d, -self.b / d);
        Some(Similarity {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        })
    }

    /// Scale factor.
    pub fn scale(&self) -> f64 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// Warps the face to the 112×112 template with bilinear sampling and edge replication.
pub fn align(img: &RgbImage, landmarks: &[Point; 5]) -> Option<RgbImage> {
    let fwd = Similarity::estimate(landmarks, &TEMPLATE)?;
    let inv = fwd.inverse()?;
    Some(warp(img, &inv, CROP, CROP))
}

/// Samples `out(x, y) = img(inv(x, y))` bilinearly, clamping at the edges.
pub fn warp(img: &RgbImage, inv: &Similarity, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    let maxx = iw.saturating_sub(1) as f32;
    let maxy = ih.saturating_sub(1) as f32;
    RgbImage::from_fn(w, h, |x, y| {
        let p = inv.apply(Point {
            x: x as f32,
            y: y as f32,
        });
        let fx = p.x.clamp(0.0, maxx);
        let fy = p.y.clamp(0.0, maxy);
        let x0 = fx.floor();
        let y0 = fy.floor();
        let ax = fx - x0;
        let ay = fy - y0;
        let x0 = x0 as u32;
        let y0 = y0 as u32;
        let x1 = (x0 + 1).min(iw.saturating_sub(1));
        let y1 = (y0 + 1).min(ih.saturating_sub(1));
        let p00 = img.get_pixel(x0, y0);
        let p10 = img.get_pixel(x1, y0);
        let p01 = img.get_pixel(x0, y1);
        let p11 = img.get_pixel(x1, y1);
        let mut c = [0u8; 3];
        for (k, v) in c.iter_mut().enumerate() {
            let top = f32::from(p00[k]) * (1.0 - ax) + f32::from(p10[k]) * ax;
            let bot = f32::from(p01[k]) * (1.0 - ax) + f32::from(p11[k]) * ax;
            *v = (top * (1.0 - ay) + bot * ay).round().clamp(0.0, 255.0) as u8;
        }
        Rgb(c)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn estimate_recovers_a_known_transform() {
        let t = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -7.0,
        };
        let src: Vec<Point> = TEMPLATE.to_vec();
        let dst: Vec<Point> = src.iter().map(|p| t.apply(*p)).collect();
        let e = Similarity::estimate(&src, &dst).unwrap();
        assert!((e.a - t.a).abs() < 1e-4 && (e.b - t.b).abs() < 1e-4);
        assert!((e.tx - t.tx).abs() < 1e-3 && (e.ty - t.ty).abs() < 1e-3);
        let back = e.inverse().unwrap().apply(dst[2]);
        assert!((back.x - src[2].x).abs() < 1e-3);
    }

    #[test]
    fn degenerate_points_give_none() {
        let p = [Point { x: 1.0, y: 1.0 }; 5];
        assert!(Similarity::estimate(&p, &TEMPLATE).is_none());
        assert!(align(&RgbImage::new(10, 10), &p).is_none());
    }
}
