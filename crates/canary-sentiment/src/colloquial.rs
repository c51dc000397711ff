//! Everyday words of complaints and thanks that a language's lexicon lacks,
//! each paired with the English word whose VADER valence it takes.
//!
//! The lexicons were built from standard written language or translated from
//! English word lists: the German Polarity Lexicon lists "enttäuscht" and
//! "ärgerlich" but not "leider", "Verspätung", "kaputt", "Scheiße" or "danke";
//! AFINN's Italian lacks "ottimo" and "pessimo", its Arabic rates "سيء" (bad)
//! 0. These are what customers write to a brand. The pairs below were written
//! for canary, each word beside the English word a translator would give; the
//! valence is that English word's in VADER's lexicon, so no number here is
//! chosen by hand. A pair only fills a gap: where a lexicon rates the word, its
//! own value stays. Words are written as posts spell them and folded at load.

use crate::rules::Lang;

/// (word in the language, English word in VADER's lexicon).
pub(crate) fn pairs(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::De => DE,
        Lang::Es => ES,
        Lang::Pt => PT,
        Lang::Fr => FR,
        Lang::It => IT,
        Lang::Ar => AR,
    }
}

const DE: &[(&str, &str)] = &[
    // Service failures.
    ("verspätung", "delay"),
    ("verspätungen", "delay"),
    ("verspätet", "delayed"),
    ("ausgefallen", "cancelled"),
    ("gestrichen", "cancelled"),
    ("storniert", "cancelled"),
    ("kaputt", "broken"),
    ("defekt", "defective"),
    ("fehler", "error"),
    ("störung", "disruption"),
    ("störungen", "disruption"),
    ("panne", "failure"),
    ("versagt", "failed"),
    ("versager", "failure"),
    ("ruiniert", "ruined"),
    ("nutzlos", "useless"),
    ("beschwerde", "complaint"),
    ("beschweren", "complain"),
    ("abzocke", "scam"),
    ("betrüger", "fraudster"),
    ("lügner", "liar"),
    ("skandal", "scandal"),
    ("skandalös", "outrageous"),
    ("unverschämtheit", "outrage"),
    ("unfreundlich", "unfriendly"),
    ("katastrophe", "catastrophe"),
    ("desaster", "disaster"),
    ("chaos", "chaos"),
    // Feelings and swearing.
    ("leider", "unfortunately"),
    ("bedauerlicherweise", "unfortunately"),
    ("mist", "crap"),
    ("kacke", "crap"),
    ("scheiße", "shit"),
    ("scheiß", "shit"),
    ("beschissen", "shitty"),
    ("verdammt", "damn"),
    ("verdammte", "damned"),
    ("hölle", "hell"),
    ("nervt", "annoys"),
    ("genervt", "annoyed"),
    ("nervtötend", "annoying"),
    ("ärger", "annoyance"),
    ("wut", "rage"),
    ("frustriert", "frustrated"),
    ("frustrierend", "frustrating"),
    ("erbärmlich", "pathetic"),
    ("schwachsinn", "nonsense"),
    ("quatsch", "nonsense"),
    ("idioten", "idiot"),
    ("igitt", "ugh"),
    ("schlimmste", "worst"),
    ("schlechteste", "worst"),
    ("hasse", "hate"),
    ("hasst", "hates"),
    // Thanks and praise.
    ("danke", "thanks"),
    ("dank", "thanks"),
    ("glückwunsch", "congratulations"),
    ("glückwünsche", "congratulations"),
    ("gratuliere", "congrats"),
    ("hoffentlich", "hopefully"),
    ("großartig", "great"),
    ("grossartig", "great"),
    ("freut", "pleased"),
    ("froh", "glad"),
    ("glücklich", "happy"),
    ("liebt", "loves"),
    ("hilfsbereit", "helpful"),
    ("freundlich", "friendly"),
    ("perfekt", "perfect"),
    ("ausgezeichnet", "excellent"),
    ("wunderbar", "wonderful"),
    ("fantastisch", "fantastic"),
    ("beste", "best"),
    ("besten", "best"),
    ("bester", "best"),
    ("willkommen", "welcome"),
    ("hurra", "hooray"),
    ("juhu", "hooray"),
];

const ES: &[(&str, &str)] = &[
    ("lamentablemente", "unfortunately"),
    ("desgraciadamente", "unfortunately"),
    ("retrasos", "delay"),
    ("demora", "delay"),
    ("cancelaron", "cancelled"),
    ("rota", "broken"),
    ("averiado", "broken"),
    ("fallo", "failure"),
    ("estafadores", "fraudster"),
    ("joder", "damn"),
    ("maldita", "damned"),
    ("harta", "annoyed"),
    ("pesimo", "terrible"),
    ("reclamo", "complaint"),
    ("reclamacion", "complaint"),
    ("encanta", "love"),
    ("encanto", "loved"),
    ("contenta", "happy"),
    ("odia", "hates"),
];

const PT: &[(&str, &str)] = &[
    ("obrigada", "thanks"),
    ("atrasada", "delayed"),
    ("cancelada", "cancelled"),
    ("quebrado", "broken"),
    ("quebrada", "broken"),
    ("chateada", "annoyed"),
    ("pessimo", "terrible"),
    ("lixo", "crap"),
    ("reclamacao", "complaint"),
    ("tomara", "hopefully"),
    ("oxala", "hopefully"),
    ("otimo", "great"),
    ("incrivel", "amazing"),
    ("amei", "loved"),
    ("adoro", "adore"),
    ("contente", "happy"),
    ("nojo", "disgust"),
];

const FR: &[(&str, &str)] = &[
    ("retard", "delay"),
    ("panne", "failure"),
    ("enerve", "annoyed"),
    ("galere", "trouble"),
    ("sympa", "nice"),
    ("content", "happy"),
];

const IT: &[(&str, &str)] = &[
    ("ritardi", "delay"),
    ("cancellato", "cancelled"),
    ("guasto", "broken"),
    ("incazzato", "pissed"),
    ("pessimo", "terrible"),
    ("peggiore", "worst"),
    ("reclamo", "complaint"),
    ("speriamo", "hopefully"),
    ("ottimo", "excellent"),
    ("adoro", "adore"),
    ("felice", "happy"),
];

const AR: &[(&str, &str)] = &[
    ("شكرا", "thanks"),
    ("شكراً", "thanks"),
    ("ملغي", "cancelled"),
    ("معطل", "broken"),
    ("نصاب", "fraudster"),
    ("زفت", "crap"),
    ("مقرف", "disgusting"),
    ("سيء", "bad"),
    ("سيئ", "bad"),
    ("أكره", "hate"),
];
