//! Hexagonal grid coordinates.

use serde::{Deserialize, Serialize};

/// One hexagon of the grid, in axial coordinates (`q` columns, `r` rows;
/// the third cube coordinate is `-q - r`). Pointy-top hexagons: `q` grows to
/// the right, `r` down and to the right.
///
/// On the wire: `{q, r}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct Hex {
    /// The column.
    pub q: i32,
    /// The row.
    pub r: i32,
}

/// The six directions, clockwise from east.
const DIRECTIONS: [Hex; 6] = [
    Hex::new(1, 0),
    Hex::new(1, -1),
    Hex::new(0, -1),
    Hex::new(-1, 0),
    Hex::new(-1, 1),
    Hex::new(0, 1),
];

impl Hex {
    /// The centre of the grid.
    pub const ORIGIN: Hex = Hex::new(0, 0);

    /// A hex from its axial coordinates.
    pub const fn new(q: i32, r: i32) -> Self {
        Hex { q, r }
    }

    /// The third cube coordinate.
    pub const fn s(self) -> i32 {
        -self.q - self.r
    }

    /// Steps between two hexes.
    pub fn distance(self, other: Hex) -> u32 {
        let (dq, dr) = (self.q - other.q, self.r - other.r);
        (dq.unsigned_abs() + dr.unsigned_abs() + (dq + dr).unsigned_abs()) / 2
    }

    /// The six adjacent hexes, clockwise from east.
    pub fn neighbours(self) -> [Hex; 6] {
        DIRECTIONS.map(|d| Hex::new(self.q + d.q, self.r + d.r))
    }

    /// Every hex at most `radius` steps from the origin, row by row from the
    /// top, left to right.
    pub fn all_within(radius: u8) -> impl Iterator<Item = Hex> {
        let n = i32::from(radius);
        (-n..=n).flat_map(move |r| {
            let (lo, hi) = ((-n).max(-n - r), n.min(n - r));
            (lo..=hi).map(move |q| Hex::new(q, r))
        })
    }

    /// Hexes in rings of growing distance from `self`: `self` first, then
    /// its neighbours, and so on out to `radius` steps. Used to find the
    /// nearest free hex.
    pub fn spiral(self, radius: u8) -> impl Iterator<Item = Hex> {
        std::iter::once(self).chain((1..=i32::from(radius)).flat_map(move |k| {
            // Start `k` steps in direction 4 and walk each side of the ring.
            let start = Hex::new(self.q + DIRECTIONS[4].q * k, self.r + DIRECTIONS[4].r * k);
            (0..6)
                .flat_map(move |side| (0..k).map(move |step| (side, step)))
                .scan(start, |at, (side, _)| {
                    let here = *at;
                    *at = Hex::new(at.q + DIRECTIONS[side].q, at.r + DIRECTIONS[side].r);
                    Some(here)
                })
        }))
    }
}

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.q, self.r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn neighbours_are_one_step_away() {
        let h = Hex::new(2, -3);
        for n in h.neighbours() {
            assert_eq!(h.distance(n), 1);
        }
        assert_eq!(h.neighbours().iter().collect::<HashSet<_>>().len(), 6);
    }

    #[test]
    fn distance_is_cube_distance() {
        assert_eq!(Hex::new(0, 0).distance(Hex::new(3, -1)), 3);
        assert_eq!(Hex::new(-2, 2).distance(Hex::new(2, -2)), 4);
        assert_eq!(Hex::new(1, 1).distance(Hex::new(1, 1)), 0);
        assert_eq!(Hex::new(1, 1).s(), -2);
    }

    #[test]
    fn a_grid_of_radius_n_has_3n_squared_plus_3n_plus_1_hexes() {
        for n in 0..=6u8 {
            let all: HashSet<Hex> = Hex::all_within(n).collect();
            let n32 = u32::from(n);
            assert_eq!(all.len() as u32, 3 * n32 * n32 + 3 * n32 + 1);
            assert!(all.iter().all(|h| h.distance(Hex::ORIGIN) <= n32));
        }
    }

    #[test]
    fn spiral_visits_each_hex_once_nearest_first() {
        let centre = Hex::new(1, -2);
        let seen: Vec<Hex> = centre.spiral(3).collect();
        assert_eq!(seen.len(), 37);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 37);
        let distances: Vec<u32> = seen.iter().map(|h| centre.distance(*h)).collect();
        assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    }
}
