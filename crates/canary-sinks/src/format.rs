//! Request bodies for each sink type.

use canary_core::aggregate::{Alert, AlertKind, AlertState, Resolution};
use canary_core::care::{TriageRecord, TriageStatus};
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
        AlertKind::Response => "response",
    }
}

/// Why the record was decided: the test, its span and what was expected.
pub fn why(a: &Alert) -> Option<String> {
    if let Some(r) = a.resolution
        && a.state == AlertState::Resolved
    {
        return Some(
            match r {
                Resolution::Calm => "calm again",
                Resolution::Expired => {
                    "open for the longest episode allowed; its level is the new normal"
                }
                Resolution::Gap => "the stream stopped (a gap in the data)",
            }
            .to_owned(),
        );
    }
    let ev = a.evidence.as_ref()?;
    Some(match (a.kind, ev.test.as_str()) {
        (AlertKind::NegativeShare, "sequential") => format!(
            "{} negative over the last {} ({} scored posts) against {} expected: evidence added up across windows (sequential test, statistic {:.1})",
            pct(ev.observed),
            ev.scale,
            ev.posts,
            pct(ev.expected),
            ev.statistic
        ),
        (AlertKind::NegativeShare, _) => format!(
            "{} negative in one {} window ({} scored posts) against {} expected (p = {:.2e}, variance x{:.2} from the watch's history)",
            pct(ev.observed),
            ev.scale,
            ev.posts,
            pct(ev.expected),
            ev.p_value,
            ev.dispersion
        ),
        (AlertKind::Volume, test) => format!(
            "{:.0} posts per window over the last {} against {:.1} expected{}, more than the watch's routine bursts ({} test)",
            ev.observed,
            ev.scale,
            ev.expected,
            ev.seasonal_factor
                .map(|f| format!(" at this hour and weekday (x{f:.2} its daily mean)"))
                .unwrap_or_default(),
            test
        ),
        (AlertKind::Response, "response_p90") => format!(
            "p90 response time {:.0} s in one {} window ({} answers) against {:.0} s usual",
            ev.observed, ev.scale, ev.posts, ev.expected
        ),
        (AlertKind::Response, _) => format!(
            "{} of {} posts answered within the SLA in one {} window against {} usual (p = {:.2e})",
            pct(ev.observed),
            ev.posts,
            ev.scale,
            pct(ev.expected),
            ev.p_value
        ),
    })
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
        AlertKind::Response => match &a.evidence {
            Some(ev) if ev.test == "response_p90" => format!(
                "p90 response {:.0} s vs usual {:.0} s",
                ev.observed, ev.expected
            ),
            Some(ev) => format!(
                "{} answered on time vs usual {} ({} due)",
                pct(ev.observed),
                pct(ev.expected),
                ev.posts
            ),
            None => format!("{} posts due", a.volume),
        },
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
    if let Some(w) = why(a) {
        t.push_str(&format!("*Why:* {}\n", e(&w)));
    }
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

/// Generic webhook body for a triage record: the record itself, as on the
/// `--triage-out` lines.
pub fn webhook_triage(t: &TriageRecord) -> Vec<u8> {
    serde_json::to_vec(t).unwrap_or_default()
}

/// A span of seconds as a person says it: `45s`, `12m 30s`, `2h 5m`.
fn took(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ if s % 3600 / 60 == 0 => format!("{}h", s / 3600),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

/// Slack incoming-webhook body for a triage record: one line naming the
/// watch, the author and their reach, why the post needs an answer and the
/// post itself; its `answered` follow-up says after how long. Every
/// post-derived string is escaped.
pub fn slack_triage(t: &TriageRecord) -> Value {
    let e = slack_escape;
    let author = match t.author.as_deref() {
        Some(a) if a.starts_with('@') => e(a),
        Some(a) => format!("@{}", e(a)),
        None => "an unknown author".to_owned(),
    };
    let reach = t
        .reach
        .map(|n| format!(" ({n} followers)"))
        .unwrap_or_default();
    let text = match t.status {
        TriageStatus::Open => format!(
            ":speech_balloon: *{}* needs an answer ({}): *{author}*{reach} wrote “{}” _(post {}, {}, score {:.3})_",
            e(&t.watch),
            e(&t.reasons.join(", ")),
            e(&t.text),
            e(&t.id),
            e(&t.time),
            t.score
        ),
        TriageStatus::Answered => {
            let after = match (t.response_seconds, t.within_sla) {
                (Some(s), Some(true)) => format!(" after {}, within the SLA", took(s)),
                (Some(s), _) => format!(" after {}, past the SLA", took(s)),
                (None, _) => String::new(),
            };
            format!(
                ":white_check_mark: *{}* answered *{author}*{after}: “{}” _(post {})_",
                e(&t.watch),
                e(&t.text),
                e(&t.id)
            )
        }
    };
    json!({
        "text": text,
        "mrkdwn": true,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// Alertmanager v2 body (`POST /api/v2/alerts`): one alert whose labels match
/// the `CanaryNegativeShareSpike` / `CanaryVolumeSpike` rules, so routes,
/// grouping and inhibitions treat a direct page and a rule's page alike.
///
/// `startsAt` is the episode's first window start (event time). A firing
/// alert ends `4 × resend` after `now_ms` unless sent again; a resolved one
/// ends at `now_ms`, the time canary resolved it, but never before it started
/// (a replay of old data resolves at once, not in the past of its start).
pub fn alertmanager(a: &Alert, severity: &str, team: &str, resend_ms: i64, now_ms: i64) -> Value {
    let alertname = match a.kind {
        AlertKind::NegativeShare => "CanaryNegativeShareSpike",
        AlertKind::Volume => "CanaryVolumeSpike",
        AlertKind::Response => "CanaryCareResponse",
    };
    let starts_ms = canary_core::time::parse_rfc3339(&a.episode_start);
    let ends_ms = match a.state {
        AlertState::Firing => now_ms.saturating_add(resend_ms.saturating_mul(4)),
        AlertState::Resolved => now_ms,
    };
    let ends_ms = starts_ms.map_or(ends_ms, |s| ends_ms.max(s));
    let mut description = format!(
        "Negative share {} vs baseline {} ({} of {} scored posts, p = {:.2e}). \
         Volume {} posts vs baseline {:.1} per window. Window {} to {}.",
        pct(a.negative_share),
        pct(a.baseline_share),
        a.negative,
        a.scored,
        a.p_value,
        a.volume,
        a.baseline_volume,
        a.window_start,
        a.window_end
    );
    if let Some(w) = why(a) {
        description.push_str(&format!(" Why: {w}."));
    }
    if !a.top_terms.is_empty() {
        description.push_str(&format!(" Top terms: {}.", a.top_terms.join(", ")));
    }
    let samples: Vec<String> = a
        .samples
        .iter()
        .map(|s| {
            format!(
                "{} (compound {:.2}, id {})",
                s.text.replace(['\n', '\r'], " "),
                s.compound,
                s.id
            )
        })
        .collect();
    json!([{
        "labels": {
            "alertname": alertname,
            "watch": a.watch,
            "lang": a.lang,
            "kind": a.kind.as_str(),
            "severity": severity,
            "team": team,
        },
        "annotations": {
            "summary": summary(a),
            "description": description,
            "negative_share": pct(a.negative_share),
            "baseline_share": pct(a.baseline_share),
            "volume": a.volume.to_string(),
            "baseline_volume": format!("{:.1}", a.baseline_volume),
            "top_terms": a.top_terms.join(", "),
            "sample_posts": samples.join("\n"),
            "alert_id": a.alert_id,
        },
        "startsAt": a.episode_start,
        "endsAt": canary_core::time::format_rfc3339(ends_ms),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_core::aggregate::Evidence;

    fn alert(kind: AlertKind, state: AlertState) -> Alert {
        Alert {
            v: 1,
            alert_id: "airline/all/negative_share/2015-02-23T03:50:00Z".into(),
            kind,
            watch: "airline".into(),
            lang: "all".into(),
            state,
            window_start: "2015-02-23T03:50:00Z".into(),
            window_end: "2015-02-23T03:55:00Z".into(),
            volume: 3,
            scored: 3,
            negative: 2,
            negative_share: 2.0 / 3.0,
            baseline_share: 0.27,
            baseline_volume: 2.1,
            p_value: 0.001,
            top_terms: vec![],
            sample_ids: vec![],
            samples: vec![],
            episode_start: "2015-02-23T03:50:00Z".into(),
            evidence: None,
            resolution: None,
        }
    }

    #[test]
    fn a_sequential_alert_says_over_how_long_and_against_what() {
        let mut a = alert(AlertKind::NegativeShare, AlertState::Firing);
        a.evidence = Some(Box::new(Evidence {
            test: "sequential".into(),
            scale: "14h5m".into(),
            since_ms: 0,
            observed: 0.38,
            expected: 0.27,
            baseline: 0.27,
            seasonal_factor: None,
            posts: 412,
            statistic: 7.6,
            p_value: 5e-4,
            dispersion: 1.0,
        }));
        let w = why(&a).unwrap();
        assert!(w.contains("38.0% negative over the last 14h5m"), "{w}");
        assert!(
            w.contains("412 scored posts") && w.contains("27.0% expected"),
            "{w}"
        );
        let text = slack(&a)["text"].as_str().unwrap().to_owned();
        assert!(text.contains("*Why:* 38.0%"), "{text}");
    }

    fn triage(status: TriageStatus) -> TriageRecord {
        TriageRecord {
            v: 1,
            status,
            id: "1790000000000000042".into(),
            watch: "acme".into(),
            text: "@acmehelp where is my <!channel> refund?\nday 9 & counting".into(),
            author: Some("dana".into()),
            reach: Some(1250),
            score: 0.4321,
            reasons: vec!["question".into(), "complaint".into()],
            time: "2024-05-06T10:03:00Z".into(),
            event_ms: 1_714_989_780_000,
            at: "2024-05-06T10:05:00Z".into(),
            response_seconds: None,
            within_sla: None,
        }
    }

    #[test]
    fn slack_triage_is_one_escaped_line_and_its_answer_says_after_how_long() {
        let open = slack(&alert(AlertKind::Volume, AlertState::Firing));
        assert!(open["text"].as_str().unwrap().contains('\n'));
        let v = slack_triage(&triage(TriageStatus::Open));
        assert_eq!(
            v["text"],
            ":speech_balloon: *acme* needs an answer (question, complaint): *@dana* (1250 followers) \
             wrote “@acmehelp where is my &lt;!channel&gt; refund? day 9 &amp; counting” \
             _(post 1790000000000000042, 2024-05-06T10:03:00Z, score 0.432)_"
        );
        assert_eq!(v["mrkdwn"], true);
        let mut t = triage(TriageStatus::Answered);
        t.response_seconds = Some(750.0);
        t.within_sla = Some(true);
        t.author = None;
        t.reach = None;
        assert_eq!(
            slack_triage(&t)["text"],
            ":white_check_mark: *acme* answered *an unknown author* after 12m 30s, within the SLA: \
             “@acmehelp where is my &lt;!channel&gt; refund? day 9 &amp; counting” _(post 1790000000000000042)_"
        );
        t.response_seconds = Some(7_500.0);
        t.within_sla = Some(false);
        t.author = Some("@dana".into());
        let text = slack_triage(&t)["text"].as_str().unwrap().to_owned();
        assert!(
            text.contains("answered *@dana* after 2h 5m, past the SLA"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(
            [took(45.0), took(60.0), took(3600.0), took(3659.0)],
            ["45s", "1m", "1h", "1h"]
        );
    }

    #[test]
    fn a_resolve_says_why_it_ended() {
        let mut a = alert(AlertKind::Volume, AlertState::Resolved);
        a.resolution = Some(Resolution::Gap);
        assert_eq!(why(&a).unwrap(), "the stream stopped (a gap in the data)");
        a.resolution = None;
        assert_eq!(why(&a), None);
    }
}
