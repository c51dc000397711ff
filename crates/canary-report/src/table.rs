//! The per-watch table printed to stderr at the end of a replay.

use crate::collect::Collector;
use std::fmt::Write;

/// One line per watch: posts, scored posts, negative share, episodes.
pub fn watch_table(c: &Collector) -> String {
    let width = c
        .watches()
        .iter()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
        .max("watch".len());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<width$}  {:>10}  {:>10}  {:>9}  {:>8}",
        "watch", "posts", "scored", "negative", "episodes"
    );
    for w in c.watches() {
        let t = c.totals(w);
        let _ = writeln!(
            s,
            "{w:<width$}  {:>10}  {:>10}  {:>8.1}%  {:>8}",
            t.posts,
            t.scored,
            t.negative_share() * 100.0,
            t.episodes
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::tests::{alert, window};
    use canary_core::aggregate::AlertState;

    #[test]
    fn one_row_per_watch_in_config_order() {
        let mut c = Collector::new(&["zeta".into(), "acme".into()], false);
        c.observe(&window("acme", "all", 0, 200, 100, 37));
        c.observe(&alert("a1", "acme", "all", AlertState::Firing, 0));
        let t = watch_table(&c);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert_eq!(
            lines[0],
            "watch       posts      scored   negative  episodes"
        );
        assert_eq!(
            lines[1],
            "zeta            0           0       0.0%         0"
        );
        assert_eq!(
            lines[2],
            "acme          200         100      37.0%         1"
        );
    }
}
