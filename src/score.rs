//! `canary score`: sentiment scores for JSON lines or plain text lines, in
//! input order. English (the default) is VADER, exactly as the reference.

use crate::cli::ScoreArgs;
use anyhow::{Context, Result};
use canary_sentiment::Scorer;
use serde::Deserialize;
use std::io::{BufRead, BufReader, Read, Write};

#[derive(Deserialize)]
struct In {
    id: serde_json::Value,
    text: String,
    #[serde(default)]
    lang: Option<String>,
}

enum Line {
    Text(serde_json::Value, String, Option<String>),
    Bad(String, u64, String),
}

const CHUNK: usize = 8192;

pub fn run(args: &ScoreArgs) -> Result<()> {
    if args.threads == 0 {
        return Err(crate::cli::usage(anyhow::anyhow!(
            "--threads must be at least 1"
        )));
    }
    let default_lang = args.lang.as_deref().unwrap_or("en");
    if !Scorer::supports(default_lang) {
        return Err(crate::usage(anyhow::anyhow!(
            "--lang {default_lang:?} cannot be scored (supported: {})",
            canary_sentiment::LANGUAGES.join(", ")
        )));
    }
    let mut readers: Vec<(String, Box<dyn Read>)> = Vec::new();
    if args.inputs.is_empty() {
        readers.push(("-".into(), Box::new(std::io::stdin())));
    }
    for p in &args.inputs {
        if p.as_os_str() == "-" {
            readers.push(("-".into(), Box::new(std::io::stdin())));
        } else {
            let f = std::fs::File::open(p)
                .with_context(|| format!("cannot open {}", p.display()))
                .map_err(crate::cli::usage)?;
            readers.push((p.display().to_string(), Box::new(f)));
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut scorers: Vec<Scorer> = (0..args.threads).map(|_| Scorer::new()).collect();
    let mut bad = 0u64;
    let mut n = 0u64;
    for (name, r) in readers {
        let mut lines = BufReader::new(r).split(b'\n');
        let mut lineno = 0u64;
        loop {
            let mut chunk: Vec<Line> = Vec::with_capacity(CHUNK);
            for raw in lines.by_ref() {
                let raw = raw.with_context(|| format!("reading {name}"))?;
                lineno += 1;
                let raw = raw.strip_suffix(b"\r").unwrap_or(&raw).to_vec();
                let line = match String::from_utf8(raw) {
                    Err(_) => Line::Bad(name.clone(), lineno, "invalid_utf8".into()),
                    Ok(s) if args.lines => Line::Text(lineno.into(), s, None),
                    Ok(s) if s.trim().is_empty() => continue,
                    Ok(s) => match read_json(&s) {
                        Ok(In { lang: Some(l), .. }) if !Scorer::supports(&l) => {
                            Line::Bad(name.clone(), lineno, format!("unsupported_lang: {l:?}"))
                        }
                        Ok(i) => Line::Text(i.id, i.text, i.lang),
                        Err(e) => Line::Bad(name.clone(), lineno, format!("invalid_json: {e}")),
                    },
                };
                chunk.push(line);
                if chunk.len() == CHUNK {
                    break;
                }
            }
            if chunk.is_empty() {
                break;
            }
            let scores = score_chunk(&chunk, default_lang, &mut scorers);
            for (line, s) in chunk.iter().zip(scores) {
                match (line, s) {
                    (Line::Text(id, _, _), Some(s)) => {
                        n += 1;
                        serde_json::to_writer(
                            &mut out,
                            &serde_json::json!({"id": id, "neg": s.neg, "neu": s.neu, "pos": s.pos, "compound": s.compound}),
                        )?;
                        out.write_all(b"\n")?;
                    }
                    (Line::Bad(src, l, reason), _) => {
                        bad += 1;
                        tracing::warn!(source = %src, line = l, reason = %reason, "skipped line");
                    }
                    _ => {}
                }
            }
        }
    }
    out.flush()?;
    tracing::info!(scored = n, skipped = bad, "done");
    Ok(())
}

/// One `{id, text}` line, a lone surrogate escape read as U+FFFD as the
/// pipeline reads it.
fn read_json(s: &str) -> serde_json::Result<In> {
    serde_json::from_str::<In>(s).or_else(|e| {
        match canary_ingest::parse::replace_lone_surrogates(s) {
            Some(fixed) => serde_json::from_str::<In>(&fixed),
            None => Err(e),
        }
    })
}

/// Scores a chunk on as many threads as there are scorers, keeping order;
/// a line's `lang` overrides `default_lang`.
fn score_chunk(
    chunk: &[Line],
    default_lang: &str,
    scorers: &mut [Scorer],
) -> Vec<Option<canary_core::Sentiment>> {
    let per = chunk.len().div_ceil(scorers.len()).max(1);
    let mut results: Vec<Option<canary_core::Sentiment>> = vec![None; chunk.len()];
    std::thread::scope(|s| {
        for ((part, res), a) in chunk
            .chunks(per)
            .zip(results.chunks_mut(per))
            .zip(scorers.iter_mut())
        {
            s.spawn(move || {
                for (line, r) in part.iter().zip(res.iter_mut()) {
                    if let Line::Text(_, t, lang) = line {
                        *r = a.score(lang.as_deref().unwrap_or(default_lang), t);
                    }
                }
            });
        }
    });
    results
}
