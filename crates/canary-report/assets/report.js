// Draws the report from its data block. Every text from the data goes in
// through textContent or an attribute, never as markup: post texts are
// untrusted input.
(function () {
  "use strict";
  var started = performance.now();
  var D = JSON.parse(document.getElementById("canary-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var main = document.getElementById("main");
  var W = 960, L = 52, R = 8;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs || {}) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) parent.appendChild(arguments[i]);
    return parent;
  }
  function iso(ms) { return new Date(ms).toISOString().replace(".000Z", "Z"); }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function num(x) { return Number(x).toLocaleString("en"); }
  function anchor(name) { return "watch-" + Array.from(name).map(function (c) {
    return /[A-Za-z0-9_-]/.test(c) ? c : "_" + c.codePointAt(0).toString(16);
  }).join(""); }
  function share(t) { return t.scored ? t.negative / t.scored : 0; }
  function table(head, rows, numeric) {
    var t = el("table"), tr = el("tr");
    head.forEach(function (h, i) { add(tr, el("th", numeric && numeric[i] ? { "class": "n" } : {}, h)); });
    add(t, tr);
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c, i) {
        if (c instanceof Node) add(row, add(el("td"), c));
        else add(row, el("td", numeric && numeric[i] ? { "class": "n" } : {}, c));
      });
      add(t, row);
    });
    return t;
  }
  function mapRows(m) { return Object.keys(m).map(function (k) { return [k, num(m[k])]; }); }

  var span = D.span || [0, 1];
  function xScale(t) { return L + (W - L - R) * (t - span[0]) / Math.max(1, span[1] - span[0]); }

  // A chart frame: the y axis with a few labelled ticks and the time axis.
  function frame(h, top, fmt, cls) {
    var s = svg("svg", { "class": "chart chart-" + cls, viewBox: "0 0 " + W + " " + (h + 18), role: "img" });
    var y = function (v) { return h - 4 - (h - 12) * v / top; };
    for (var i = 0; i <= 2; i++) {
      var v = top * i / 2;
      add(s, svg("line", { "class": "axis", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      var lab = svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" });
      lab.textContent = fmt(v);
      add(s, lab);
    }
    [0, 0.5, 1].forEach(function (f, i) {
      var t = span[0] + f * (span[1] - span[0]);
      var lab = svg("text", { x: xScale(t), y: h + 14, "text-anchor": ["start", "middle", "end"][i] });
      lab.textContent = iso(t).slice(0, 16).replace("T", " ");
      add(s, lab);
    });
    return { svg: s, y: y };
  }

  function shade(f, h, eps, cls) {
    eps.forEach(function (e) {
      var x0 = xScale(e.start_ms), x1 = xScale(e.end_ms === null ? span[1] : e.end_ms);
      var r = svg("rect", { "class": cls + " " + e.kind, x: x0, y: 0, width: Math.max(1, x1 - x0), height: h,
        "data-alert-id": e.alert_id });
      var tt = svg("title");
      tt.textContent = e.alert_id + " (" + e.kind + ")";
      add(r, tt);
      add(f.svg, r);
    });
  }

  function volumeChart(s, eps, epsB) {
    var h = 90, top = Math.max.apply(null, s.volume_max.concat([1]));
    var f = frame(h, top, function (v) { return num(Math.round(v)); }, "volume");
    shade(f, h, eps, "episode");
    shade(f, h, epsB, "episode-b");
    var d = "", dmin = "", y0 = f.y(0);
    for (var i = 0; i < s.t.length; i++) {
      var x = xScale(s.t[i]), w = Math.max(0.8, xScale(s.t[i] + s.bucket_ms) - x - 0.4);
      d += "M" + x.toFixed(1) + " " + y0.toFixed(1) + "V" + f.y(s.volume_max[i]).toFixed(1) +
        "h" + w.toFixed(1) + "V" + y0.toFixed(1) + "Z";
      if (s.volume_min[i] !== s.volume_max[i]) {
        dmin += "M" + x.toFixed(1) + " " + y0.toFixed(1) + "V" + f.y(s.volume_min[i]).toFixed(1) +
          "h" + w.toFixed(1) + "V" + y0.toFixed(1) + "Z";
      }
    }
    add(f.svg, svg("path", { "class": "vol", d: d || "M0 0", "data-t": s.t.join(","),
      "data-volume": s.volume_max.join(","), "data-scored": s.scored.join(","),
      "data-negative": s.negative.join(",") }));
    if (dmin) add(f.svg, svg("path", { "class": "vol-min", d: dmin }));
    return f.svg;
  }

  function shareChart(s, th, eps, epsB) {
    var h = 130;
    var hi = th.floor;
    s.share_max.forEach(function (v) { hi = Math.max(hi, v); });
    s.baseline.forEach(function (b) { if (b !== null) hi = Math.max(hi, b + th.min_rise); });
    var top = Math.min(1, Math.max(0.05, hi * 1.1));
    var f = frame(h, top, function (v) { return (100 * v).toFixed(0) + "%"; }, "share");
    shade(f, h, eps, "episode");
    shade(f, h, epsB, "episode-b");
    var mid = function (i) { return xScale(s.t[i] + s.bucket_ms / 2); };
    var up = [], low = [], base = [];
    for (var i = 0; i < s.t.length; i++) {
      var b = s.baseline[i];
      if (b === null) continue;
      var x = mid(i).toFixed(1);
      up.push(x + "," + f.y(Math.max(th.floor, b + th.min_rise)).toFixed(1));
      low.unshift(x + "," + f.y(b).toFixed(1));
      base.push(x + "," + f.y(b).toFixed(1));
    }
    if (up.length) {
      add(f.svg, svg("polygon", { "class": "band", points: up.concat(low).join(" ") }));
      add(f.svg, svg("polyline", { "class": "baseline", points: base.join(" ") }));
    }
    var pts = [], range = [], rangeBack = [];
    for (var j = 0; j < s.t.length; j++) {
      var xm = mid(j).toFixed(1);
      pts.push(xm + "," + f.y(s.share_max[j]).toFixed(1));
      if (s.bucket_ms > D.window_ms) {
        range.push(xm + "," + f.y(s.share_max[j]).toFixed(1));
        rangeBack.unshift(xm + "," + f.y(s.share_min[j]).toFixed(1));
      }
    }
    if (range.length) add(f.svg, svg("polygon", { "class": "share-range", points: range.concat(rangeBack).join(" ") }));
    add(f.svg, svg("polyline", { "class": "share", points: pts.join(" "), "data-t": s.t.join(","),
      "data-share": s.share_max.join(",") }));
    return f.svg;
  }

  function sparkline(w) {
    var s = svg("svg", { "class": "spark", width: 120, height: 22, viewBox: "0 0 120 22" });
    var all = w.series.filter(function (x) { return x.lang === "all"; })[0];
    if (!all || !all.t.length) return s;
    var top = Math.max(0.05, Math.max.apply(null, all.share_max));
    var n = all.t.length, pts = all.share_max.map(function (v, i) {
      return (n === 1 ? 60 : 2 + 116 * i / (n - 1)).toFixed(1) + "," + (20 - 18 * v / top).toFixed(1);
    });
    add(s, svg("polyline", { "class": "spark-line", points: pts.join(" ") }));
    return s;
  }

  function alertBox(a, resolved) {
    var box = el("div", { "class": "alert " + a.kind, id: "alert-" + a.alert_id });
    add(box, el("strong", {}, a.kind.replace("_", " ") + " · " + a.lang + " · " + a.window_start +
      (resolved ? " → " + resolved.window_end : " → still firing at the end")));
    add(box, el("div", { "class": "muted" }, "alert_id " + a.alert_id));
    add(box, el("div", {}, "negative share " + pct(a.negative_share) + " against baseline " +
      pct(a.baseline_share) + "; " + num(a.volume) + " posts (" + num(a.scored) + " scored, " +
      num(a.negative) + " negative), baseline volume " + a.baseline_volume.toFixed(1) +
      " per window; p = " + a.p_value.toExponential(2)));
    if (a.top_terms.length) add(box, el("div", {}, "top terms: " + a.top_terms.join(", ")));
    if (a.evidence) {
      var e = a.evidence;
      add(box, el("div", { "class": "muted" }, "evidence: " + e.test + " test over " + e.scale +
        " since " + iso(e.since_ms) + ": observed " + e.observed.toFixed(4) + ", expected " +
        e.expected.toFixed(4) + ", baseline " + e.baseline.toFixed(4) + ", " + num(e.posts) +
        " posts, statistic " + e.statistic.toFixed(2) + ", p ≤ " + e.p_value.toExponential(2) +
        ", dispersion " + e.dispersion.toFixed(2)));
    }
    if (resolved && resolved.resolution) {
      add(box, el("div", { "class": "muted" }, "resolved: " + JSON.stringify(resolved.resolution)));
    }
    if (a.samples.length) {
      var ul = el("ul", { "class": "samples" });
      a.samples.forEach(function (s) { add(ul, el("li", {}, s.text + " (" + s.compound.toFixed(2) + ", id " + s.id + ")")); });
      add(box, ul);
    }
    return box;
  }

  function byId(alerts) {
    var m = {};
    alerts.forEach(function (a) { (m[a.alert_id] = m[a.alert_id] || {})[a.state] = a; });
    return m;
  }

  // Input summary.
  var inp = D.input, sec = el("section", { id: "input" });
  add(sec, el("h2", {}, "Input"));
  add(sec, table(["", ""], [
    ["inputs", inp.files.join(", ") || "—"],
    ["posts read", num(inp.posts)],
    ["posts counted in windows", num(inp.counted)],
    ["time span", D.span ? iso(span[0]) + " → " + iso(span[1]) : "no window closed"],
    ["window", (D.window_ms / 60000) + " min"],
    ["late posts", num(inp.late)],
    ["future posts", num(inp.future)],
  ]));
  add(sec, el("h3", {}, "Notices"));
  add(sec, Object.keys(inp.notices).length ? table(["kind", "count"], mapRows(inp.notices), [0, 1]) : el("p", { "class": "muted" }, "none"));
  add(sec, el("h3", {}, "Dead letters by reason"));
  add(sec, Object.keys(inp.dead_letters).length ? table(["stage/reason", "count"], mapRows(inp.dead_letters), [0, 1]) : el("p", { "class": "muted" }, "none"));
  add(main, sec);

  // Overview.
  var ov = el("section", { id: "overview" });
  add(ov, el("h2", {}, "Overview"));
  var ot = table(["watch", "posts", "scored", "negative share", "episodes", "negative share over time"], [], [0, 1, 1, 1, 1, 0]);
  D.watches.forEach(function (w) {
    var a = el("a", { href: "#" + anchor(w.name) }, w.name);
    var tr = el("tr", { "class": "watch-row", "data-watch": w.name });
    add(tr, add(el("td"), a), el("td", { "class": "n" }, num(w.totals.posts)),
      el("td", { "class": "n" }, num(w.totals.scored)), el("td", { "class": "n" }, pct(share(w.totals))),
      el("td", { "class": "n" }, w.totals.episodes), add(el("td"), sparkline(w)));
    tr.addEventListener("click", function () { location.hash = anchor(w.name); });
    add(ot, tr);
  });
  add(ov, ot);
  add(main, ov);

  // Comparison (backtest).
  var C = D.comparison;
  if (C) {
    var cs = el("section", { id: "comparison" });
    add(cs, el("h2", {}, "Comparison"));
    add(cs, el("p", {}, "A: " + C.a + " (" + D.episodes.length + " episodes) · B: " + C.b + " (" +
      C.episodes_b.length + " episodes). Charts shade A's episodes red and B's green."));
    if (!C.differences.length) add(cs, el("p", {}, "Both configs fire the same episodes."));
    else add(cs, table(["change", "alert_id", "watch", "lang", "kind", "start", "windows"],
      C.differences.map(function (d) {
        return [el("span", { "class": "change-" + d.change }, d.change), d.alert_id, d.watch, d.lang, d.kind,
          d.start, d.windows === undefined ? "" : (d.windows > 0 ? "+" : "") + d.windows];
      })));
    add(main, cs);
  }

  // One section per watch.
  var alerts = byId(D.alerts), alertsB = C ? byId(C.alerts_b) : {};
  D.watches.forEach(function (w) {
    var ws = el("section", { "class": "watch", id: anchor(w.name), "data-watch": w.name });
    add(ws, el("h2", {}, w.name));
    add(ws, el("p", {}, num(w.totals.posts) + " posts, " + num(w.totals.scored) + " scored, " +
      pct(share(w.totals)) + " negative, " + w.totals.episodes + " episodes"));
    if (!w.series.length) add(ws, el("p", { "class": "muted" }, "No window closed for this watch."));
    w.series.forEach(function (s) {
      var mine = function (e) { return e.watch === w.name && e.lang === s.lang; };
      var eps = D.episodes.filter(mine), epsB = C ? C.episodes_b.filter(mine) : [];
      var part = el("div", { "class": "series", "data-lang": s.lang });
      add(part, el("h3", {}, s.lang === "all" ? "All languages" : "Language: " + s.lang));
      if (s.bucket_ms > D.window_ms) {
        add(part, el("p", { "class": "muted" }, s.windows + " windows drawn as " + s.t.length +
          " buckets of " + (s.bucket_ms / 60000) + " min: bars and the shaded range show each bucket's minimum and maximum."));
      }
      add(part, el("div", { "class": "muted" }, "volume (posts per window)"));
      add(part, volumeChart(s, eps, epsB));
      add(part, el("div", { "class": "muted" }, "negative share"));
      add(part, shareChart(s, w.threshold, eps, epsB));
      var lg = el("div", { "class": "legend" });
      [["var(--share)", "negative share"], ["var(--base)", "baseline"], ["var(--band)", "baseline → alert threshold"],
        ["var(--ep)", C ? "episode under A" : "episode"]].concat(C ? [["var(--epb)", "episode under B"]] : [])
        .forEach(function (p) { add(lg, add(el("span"), el("i", { style: "background:" + p[0] }), document.createTextNode(p[1]))); });
      add(part, lg);
      eps.forEach(function (e) {
        var r = alerts[e.alert_id] || {};
        if (r.firing) add(part, alertBox(r.firing, r.resolved));
      });
      epsB.forEach(function (e) {
        if (alerts[e.alert_id]) return;
        var r = alertsB[e.alert_id] || {};
        if (r.firing) {
          var b = alertBox(r.firing, r.resolved);
          b.insertBefore(el("div", { "class": "muted" }, "under B only"), b.firstChild);
          add(part, b);
        }
      });
      add(ws, part);
    });
    add(main, ws);
  });

  var cf = el("section", { id: "config" });
  add(cf, el("h2", {}, "Effective config" + (C ? " (A)" : "")));
  add(cf, el("pre", {}, D.config));
  if (C) { add(cf, el("h2", {}, "Effective config (B)")); add(cf, el("pre", {}, C.config_b)); }
  add(cf, el("h3", {}, "Run summary"));
  add(cf, el("pre", {}, inp.summary));
  add(cf, el("p", { "class": "muted" }, "Generated by " + D.generated_by + "."));
  add(main, cf);
  // How long parsing and drawing took, for whoever checks the page's speed.
  document.body.setAttribute("data-render-ms", String(Math.round(performance.now() - started)));
  document.body.setAttribute("data-rendered", "1");
})();
