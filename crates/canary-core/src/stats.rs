//! Exact tail probabilities for the alert decisions.
//!
//! Counts per window can be small (a watch with 30 posts) or huge (a global
//! brand), so the tests are exact rather than normal approximations: the
//! binomial upper tail through the regularized incomplete beta function and the
//! Poisson upper tail through the regularized incomplete gamma function.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative error).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps precision for small arguments.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction for the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-15;
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized incomplete beta I_x(a, b).
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(X >= k) for X ~ Binomial(n, p).
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    inc_beta(k as f64, (n - k + 1) as f64, p).clamp(0.0, 1.0)
}

/// P(X >= k) for a binomial extended to real `k` and `n` (0 < k <= n):
/// I_p(k, n − k + 1). Used with counts divided by a variance inflation factor,
/// the usual quasi-binomial treatment of overdispersed shares.
pub fn binomial_upper_tail_real(k: f64, n: f64, p: f64) -> f64 {
    if k <= 0.0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    inc_beta(k, n - k + 1.0, p).clamp(0.0, 1.0)
}

/// P(X >= k) for a negative binomial with mean `mu` and size `r` (variance
/// mu + mu² / r): I_q(k, r) with q = mu / (r + mu).
pub fn negbin_upper_tail(k: u64, mu: f64, r: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mu <= 0.0 {
        return 0.0;
    }
    inc_beta(k as f64, r, mu / (r + mu)).clamp(0.0, 1.0)
}

/// Regularized lower incomplete gamma P(a, x).
pub fn inc_gamma_lower(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut del, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..100_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (sum.ln() + ln_front).exp().clamp(0.0, 1.0)
    } else {
        // Continued fraction for Q(a, x), modified Lentz.
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..100_000 {
            let an = -f64::from(i) * (f64::from(i) - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (1.0 - (ln_front.exp() * h)).clamp(0.0, 1.0)
    }
}

/// P(X >= k) for X ~ Poisson(mu).
pub fn poisson_upper_tail(k: u64, mu: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mu <= 0.0 {
        return 0.0;
    }
    inc_gamma_lower(k as f64, mu)
}

/// Wilson score interval lower bound for k successes in n trials at normal quantile z.
pub fn wilson_lower(k: u64, n: u64, z: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_binomial_tail_matches_direct_sum_and_tends_to_poisson() {
        let (mu, r) = (12.0f64, 3.0f64);
        let q = mu / (r + mu);
        // P(X = i) = Γ(i + r) / (Γ(r) i!) (1 − q)^r q^i
        let pmf = |i: u64| {
            let i = i as f64;
            (ln_gamma(i + r) - ln_gamma(r) - ln_gamma(i + 1.0) + r * (1.0 - q).ln() + i * q.ln())
                .exp()
        };
        for k in [1u64, 5, 12, 30, 60] {
            let direct = 1.0 - (0..k).map(pmf).sum::<f64>();
            let got = negbin_upper_tail(k, mu, r);
            assert!((got - direct).abs() < 1e-9, "k={k}: {got} vs {direct}");
        }
        let nb = negbin_upper_tail(25, 12.0, 1e7);
        let po = poisson_upper_tail(25, 12.0);
        assert!((nb / po - 1.0).abs() < 1e-3, "{nb} vs {po}");
        // Overdispersion makes the same count far less surprising.
        assert!(negbin_upper_tail(40, 12.0, 3.0) > 100.0 * poisson_upper_tail(40, 12.0));
    }

    #[test]
    fn real_binomial_tail_agrees_with_the_integer_one() {
        for (k, n, p) in [(3u64, 40u64, 0.02), (37, 100, 0.05), (10, 10, 0.5)] {
            let a = binomial_upper_tail(k, n, p);
            let b = binomial_upper_tail_real(k as f64, n as f64, p);
            assert!((a - b).abs() < 1e-12 * a.max(1e-300).max(1.0), "{a} {b}");
        }
        assert_eq!(binomial_upper_tail_real(0.0, 5.0, 0.1), 1.0);
    }

    fn binom_direct(k: u64, n: u64, p: f64) -> f64 {
        (k..=n)
            .map(|i| {
                let ln_c = ln_gamma(n as f64 + 1.0)
                    - ln_gamma(i as f64 + 1.0)
                    - ln_gamma((n - i) as f64 + 1.0);
                (ln_c + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp()
            })
            .sum()
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30u32 {
            f *= f64::from(n);
            assert!(
                (ln_gamma(f64::from(n) + 1.0) - f.ln()).abs() < 1e-10,
                "n={n}"
            );
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn binomial_tail_matches_direct_sum() {
        for &(k, n, p) in &[
            (10, 100, 0.03),
            (37, 100, 0.02),
            (1, 5, 0.5),
            (3, 3, 0.9),
            (50, 1000, 0.04),
        ] {
            let a = binomial_upper_tail(k, n, p);
            let b = binom_direct(k, n, p);
            assert!(
                (a - b).abs() <= 1e-9 * b.max(1e-300) + 1e-14,
                "k={k} n={n} p={p}: {a} vs {b}"
            );
        }
        assert_eq!(binomial_upper_tail(0, 10, 0.1), 1.0);
        assert_eq!(binomial_upper_tail(11, 10, 0.1), 0.0);
    }

    #[test]
    fn poisson_tail_matches_direct_sum() {
        for &(k, mu) in &[(1u64, 0.5), (10, 3.0), (30, 10.0), (500, 100.0)] {
            let below: f64 = (0..k)
                .map(|i| (-mu + i as f64 * f64::ln(mu) - ln_gamma(i as f64 + 1.0)).exp())
                .sum();
            let a = poisson_upper_tail(k, mu);
            assert!(
                (a - (1.0 - below)).abs() < 1e-9,
                "k={k} mu={mu}: {a} vs {}",
                1.0 - below
            );
        }
    }

    #[test]
    fn wilson_is_below_the_estimate() {
        let w = wilson_lower(37, 100, 1.96);
        assert!(w > 0.27 && w < 0.37, "{w}");
        assert_eq!(wilson_lower(0, 0, 1.96), 0.0);
    }
}
