//! Request bodies for each sink type.

use canary_core::aggregate::{Alert, AlertKind, AlertState};
use serde_json::{Value, json};

/// Escapes text for Slack mrkdwn: `&`, `<` and `>` are the only control
/// characters, and escaping them is what stops a post from pinging
/// `<!channel>` or smuggling in a `<http://link|label>`.
pub fn slack_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A newline inside a sample would end its quote block.
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn what(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::NegativeShare => "negative share",
        AlertKind::Volume => "volume",
    }
}

/// One-line summary (PagerDuty summary, Slack headline without markup).
pub fn summary(a: &Alert) -> String {
    let state = match a.state {
        AlertState::Firing => "FIRING",
        AlertState::Resolved => "resolved",
    };
    let detail = match a.kind {
        AlertKind::NegativeShare => format!(
            "negative share {} vs baseline {} ({} posts)",
            pct(a.negative_share),
            pct(a.baseline_share),
            a.volume
        ),
        AlertKind::Volume => format!(
            "{} posts vs baseline {:.1} per window",
            a.volume, a.baseline_volume
        ),
    };
    let mut s = format!(
        "canary {state}: {} spike on {} [{}]: {detail}",
        what(a.kind),
        a.watch,
        a.lang
    );
    // PagerDuty refuses summaries over 1024 characters.
    if s.len() > 1000 {
        let mut cut = 1000;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Slack incoming-webhook body: mrkdwn text with every alert-derived string escaped.
pub fn slack(a: &Alert) -> Value {
    let e = slack_escape;
    let mut t = String::new();
    match a.state {
        AlertState::Firing => t.push_str(&format!(
            ":rotating_light: *{} alert FIRING* for watch *{}*, language *{}*\n",
            what(a.kind),
            e(&a.watch),
            e(&a.lang)
        )),
        AlertState::Resolved => t.push_str(&format!(
            ":white_check_mark: *{} alert resolved* for watch *{}*, language *{}* (episode since {})\n",
            what(a.kind),
            e(&a.watch),
            e(&a.lang),
            e(&a.episode_start)
        )),
    }
    t.push_str(&format!(
        "*Negative share:* {} vs baseline {} ({} of {} scored posts, p = {:.2e})\n",
        pct(a.negative_share),
        pct(a.baseline_share),
        a.negative,
        a.scored,
        a.p_value
    ));
    t.push_str(&format!(
        "*Volume:* {} posts vs baseline {:.1} per window, window {} to {}\n",
        a.volume,
        a.baseline_volume,
        e(&a.window_start),
        e(&a.window_end)
    ));
    if !a.top_terms.is_empty() {
        let terms: Vec<String> = a.top_terms.iter().map(|s| e(s)).collect();
        t.push_str(&format!("*Top terms:* {}\n", terms.join(", ")));
    }
    if !a.samples.is_empty() {
        t.push_str("*Sample posts:*\n");
        for s in &a.samples {
            t.push_str(&format!(
                ">{} _(compound {:.2}, id {})_\n",
                e(&s.text),
                s.compound,
                e(&s.id)
            ));
        }
    }
    t.push_str(&format!("_alert id {}_", e(&a.alert_id)));
    json!({
        "text": t,
        "mrkdwn": true,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// PagerDuty Events API v2 body: trigger on firing, resolve on resolved, the
/// alert id as dedup key so both land on one incident.
pub fn pagerduty(a: &Alert, routing_key: &str, severity: &str) -> Value {
    match a.state {
        AlertState::Firing => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": a.alert_id,
            "payload": {
                "summary": summary(a),
                "source": format!("canary/{}", a.watch),
                "severity": severity,
                "timestamp": a.window_start,
                "component": a.watch,
                "group": a.lang,
                "class": a.kind.as_str(),
                "custom_details": a,
            },
        }),
        AlertState::Resolved => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": a.alert_id,
        }),
    }
}

/// Generic webhook body: the alert record itself, as on the alert output lines.
pub fn webhook(a: &Alert) -> Vec<u8> {
    serde_json::to_vec(a).unwrap_or_default()
}
