//! Scores do not depend on the thread or on which analyzer computes them.

use canary_vader::Analyzer;

#[test]
fn same_scores_on_two_threads() {
    let Some(p) = canary_testkit::shared_data("vader/corpus.jsonl") else {
        return;
    };
    let texts: Vec<String> = std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_owned()
        })
        .collect();
    let score = |rev: bool| {
        let mut vader = Analyzer::new();
        let mut out = vec![[0u64; 4]; texts.len()];
        let order: Vec<usize> = if rev {
            (0..texts.len()).rev().collect()
        } else {
            (0..texts.len()).collect()
        };
        for i in order {
            let s = vader.polarity_scores(&texts[i]);
            out[i] = [
                s.neg.to_bits(),
                s.neu.to_bits(),
                s.pos.to_bits(),
                s.compound.to_bits(),
            ];
        }
        out
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| score(false));
        let b = s.spawn(|| score(true));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(texts.len(), 23_703);
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(differing, 0, "{differing} texts scored differently");
}
