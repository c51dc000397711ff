//! CPython 3.12 float arithmetic that the reference's results depend on.

/// A value of the reference's `sentiments` list, which mixes Python ints
/// (`0` for non-lexicon words, some idiom values) and floats. The difference
/// shows in `sum()`, which adds ints and floats differently.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Val {
    pub v: f64,
    pub int: bool,
}

impl Val {
    pub const ZERO: Val = Val { v: 0.0, int: true };

    #[inline]
    pub fn float(v: f64) -> Val {
        Val { v, int: false }
    }

    #[inline]
    pub fn int(v: i32) -> Val {
        Val {
            v: f64::from(v),
            int: true,
        }
    }
}

/// `sum(values)` as CPython 3.12 computes it: ints are summed exactly until
/// the first float; from there floats are added with Neumaier compensation
/// while ints are added plainly, and the compensation is added at the end.
pub(crate) fn py_sum(values: &[Val]) -> f64 {
    let mut it = values.iter();
    let mut i_sum: i64 = 0;
    let mut f = loop {
        match it.next() {
            None => return i_sum as f64,
            Some(x) if x.int => i_sum += x.v as i64,
            Some(x) => break i_sum as f64 + x.v,
        }
    };
    let mut c = 0.0f64;
    for x in it {
        if x.int {
            f += x.v;
        } else {
            let t = f + x.v;
            if f.abs() >= x.v.abs() {
                c += (f - t) + x.v;
            } else {
                c += (x.v - t) + f;
            }
            f = t;
        }
    }
    if c != 0.0 && c.is_finite() {
        f += c;
    }
    f
}

/// Python's `round(x, ndigits)` for a finite `x` of modest size: the exact
/// binary value of `x` is rounded to `ndigits` decimals, ties to even, and
/// the decimal result converted back to the nearest double.
pub(crate) fn py_round(x: f64, ndigits: i32) -> f64 {
    let scale = 10f64.powi(ndigits);
    let p = x * scale;
    // The exact product is p + e (an FMA recovers the rounding error exactly).
    let e = x.mul_add(scale, -p);
    // floor without a libm call; |p| is far below 2^52 here.
    let t = p as i64;
    let f = if (t as f64) > p { t - 1 } else { t };
    let d = p - f as f64; // exact, in [0, 1)
    let k = if d < 0.25 {
        // |e| is far below 0.25 for the magnitudes scored here.
        f
    } else {
        // d - 0.5 is exact for d in [0.25, 1); compare it with -e exactly.
        let h = d - 0.5;
        // Above the midpoint, or exactly on it with an odd floor (ties to even).
        if h > -e || (h == -e && f % 2 != 0) {
            f + 1
        } else {
            f
        }
    };
    // k / scale is correctly rounded: the nearest double to the decimal.
    (k as f64 / scale).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_uses_the_exact_binary_value() {
        // Expected values are CPython 3.12's: 0.0875 and 2.675 are stored
        // slightly below the tie, 0.0015 and 0.99995 slightly above, and
        // 0.0625 is an exact tie that goes to even.
        assert_eq!(py_round(0.0005, 3), 0.001);
        assert_eq!(py_round(0.0015, 3), 0.002);
        assert_eq!(py_round(0.0625, 3), 0.062);
        assert_eq!(py_round(0.0875, 3), 0.087);
        assert_eq!(py_round(2.675, 2), 2.67);
        assert_eq!(py_round(-0.00005, 4), -0.0001);
        assert_eq!(py_round(0.99995, 4), 1.0);
        assert_eq!(py_round(1.0, 3), 1.0);
        assert!(py_round(-0.00001, 3).is_sign_negative());
    }

    #[test]
    fn round_agrees_with_decimal_formatting_off_ties() {
        // Away from exact ties, correctly rounded formatting gives the same
        // decimal; a cheap cross-check over many values.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            let want: f64 = format!("{x:.4}").parse().unwrap();
            assert_eq!(py_round(x, 4), want, "{x:e}");
        }
    }

    #[test]
    fn sum_matches_cpython_312() {
        // The compensation recovers the lost 1.0s; the int 1 added in the
        // float phase bypasses it.
        let big = 1e16;
        assert_eq!(
            py_sum(&[Val::float(big), Val::float(1.0), Val::float(1.0)]),
            big + 2.0
        );
        assert_eq!(
            py_sum(&[Val::float(big), Val::float(1.0), Val::int(1)]),
            big
        );
        assert_eq!(py_sum(&[Val::int(3), Val::int(-2)]), 1.0);
        assert_eq!(
            py_sum(&[Val::float(0.1), Val::float(0.2), Val::float(0.3)]),
            0.6
        );
        assert_eq!(py_sum(&[]), 0.0);
    }
}
