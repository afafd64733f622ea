(function () {
  "use strict";
  // Threshold and risk explorer of report.html (see harness/report/explorer.py).
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var root = document.getElementById("threshold-explorer");
  var $ = function (id) { return document.getElementById(id); };

  // ---------------------------------------------------------------- numerics
  // log-gamma, Lanczos approximation (g = 7, 9 coefficients), |rel. error| ~ 1e-15
  var LG = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7];
  function lgamma(x) {
    if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
    x -= 1;
    var a = LG[0], t = x + 7.5;
    for (var i = 1; i < 9; i++) a += LG[i] / (x + i);
    return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
  }
  // log(sum(exp(v[lo..hi-1])))
  function lse(v, lo, hi) {
    var m = -Infinity, i;
    for (i = lo; i < hi; i++) if (v[i] > m) m = v[i];
    if (m === -Infinity) return -Infinity;
    var s = 0;
    for (i = lo; i < hi; i++) s += Math.exp(v[i] - m);
    return m + Math.log(s);
  }
  // ln P[X >= k] from the log pmf over 0..n; complement when the tail exceeds 1/2
  function logTail(logpmf, n, k) {
    var upper = lse(logpmf, k, n + 1);
    if (upper > Math.log(0.5) && k > 0) {
      var lower = lse(logpmf, 0, k);
      return Math.log1p(-Math.min(Math.exp(lower), 1));
    }
    return upper;
  }
  function binomLogPmf(q, n) {
    var lq = Math.log(q), l1q = Math.log1p(-q), lgn = lgamma(n + 1), out = new Float64Array(n + 1);
    for (var i = 0; i <= n; i++) out[i] = lgn - lgamma(i + 1) - lgamma(n - i + 1) + i * lq + (n - i) * l1q;
    return out;
  }
  // beta-binomial with mean q and intra-account correlation rho (harness.risk.log_betabinom_tail)
  function betabinomLogPmf(q, rho, n) {
    var s = (1 - rho) / rho, a = q * s, b = (1 - q) * s, j;
    var ra = new Float64Array(n + 1), rb = new Float64Array(n + 1), rab = 0;
    for (j = 0; j < n; j++) {
      ra[j + 1] = ra[j] + Math.log(a + j);
      rb[j + 1] = rb[j] + Math.log(b + j);
      rab += Math.log(a + b + j);
    }
    var lgn = lgamma(n + 1), out = new Float64Array(n + 1);
    for (var i = 0; i <= n; i++) out[i] = lgn - lgamma(i + 1) - lgamma(n - i + 1) + ra[i] + rb[n - i] - rab;
    return out;
  }
  // P[at least k of n photos match], per-photo rate q (harness.risk.account_probability)
  function accountProbability(q, n, k, rho) {
    if (k === 0) return 1;
    if (k > n) return NaN;
    if (q === 0) return 0;
    if (q === 1) return 1;
    var lp = rho > 0 ? betabinomLogPmf(q, rho, n) : binomLogPmf(q, n);
    return Math.exp(logTail(lp, n, k));
  }
  // 1 - (1 - p)^M (harness.risk.per_query_probability)
  function perQuery(p, m) {
    if (p === 1) return m > 0 ? 1 : 0;
    return -Math.expm1(m * Math.log1p(-p));
  }
  // regularized incomplete beta I_x(a, b): continued fraction (modified Lentz)
  function betacf(a, b, x) {
    var TINY = 1e-300, qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap, h, aa, del;
    if (Math.abs(d) < TINY) d = TINY;
    d = 1 / d;
    h = d;
    for (var m = 1; m <= 200000; m++) {
      var m2 = 2 * m;
      aa = m * (b - m) * x / ((qam + m2) * (a + m2));
      d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
      c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
      d = 1 / d; h *= d * c;
      aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
      d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
      c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
      d = 1 / d; del = d * c; h *= del;
      if (Math.abs(del - 1) < 1e-15) break;
    }
    return h;
  }
  function ibeta(a, b, x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    var lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * Math.log(x) + b * Math.log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return Math.exp(lbt) * betacf(a, b, x) / a;
    return 1 - Math.exp(lbt) * betacf(b, a, 1 - x) / b;
  }
  // the p-quantile of Beta(a, b): bisection on log x (80 halvings of [1e-300, 1])
  function betaQuantile(p, a, b) {
    var lo = Math.log(1e-300), hi = 0;
    for (var i = 0; i < 80; i++) {
      var mid = 0.5 * (lo + hi);
      if (ibeta(a, b, Math.exp(mid)) < p) lo = mid; else hi = mid;
    }
    return Math.exp(0.5 * (lo + hi));
  }
  // 95% Clopper-Pearson interval of k of n (harness.metrics.clopper_pearson)
  function clopperPearson(k, n) {
    if (n === 0) return [0, 1];
    return [k > 0 ? betaQuantile(0.025, k, n - k + 1) : 0, k < n ? betaQuantile(0.975, k + 1, n - k) : 1];
  }
  // pairs of joint cells [d1, d2, count, ...] with d1 <= t1 and d2 <= t2 (swap: the pair is stored as (h2, h1)),
  // and the two marginals (d1 <= t1; d2 <= t2) and the total
  function jointCounts(cells, t1, t2, swap) {
    var both = 0, m1 = 0, m2 = 0, n = 0;
    for (var i = 0; i < cells.length; i += 3) {
      var a = swap ? cells[i + 1] : cells[i], b = swap ? cells[i] : cells[i + 1], c = cells[i + 2];
      n += c;
      if (a <= t1) m1 += c;
      if (b <= t2) m2 += c;
      if (a <= t1 && b <= t2) both += c;
    }
    return {both: both, m1: m1, m2: m2, n: n};
  }

  function cum(counts, t) {
    var s = 0;
    for (var i = 0; i <= t && i < counts.length; i++) s += counts[i];
    return s;
  }
  function total(counts) { return cum(counts, counts.length); }

  // ------------------------------------------------------------------ state
  var byName = {};
  D.hashers.forEach(function (h) { byName[h.name] = h; });
  var A = D.assumptions, PAIRS = D.pairs || [];
  // the joint histograms of (h, h2) in either order: {pair, swap, bits2}, or null
  function pairOf(h, h2) {
    for (var i = 0; i < PAIRS.length; i++) {
      var p = PAIRS[i];
      if (p.hasher_1 === h && p.hasher_2 === h2) return {pair: p, swap: false, bits2: p.bits2};
      if (p.hasher_2 === h && p.hasher_1 === h2) return {pair: p, swap: true, bits2: p.bits1};
    }
    return null;
  }
  function partners(h) {
    var out = [];
    PAIRS.forEach(function (p) {
      if (p.hasher_1 === h) out.push(p.hasher_2);
      else if (p.hasher_2 === h) out.push(p.hasher_1);
    });
    return out;
  }
  var state = {hasher: D.hashers[0].name, threshold: D.hashers[0].threshold, hasher2: null, threshold2: null,
    negatives: null,
    database_size: A.database_size, photos_per_year: A.photos_per_year, match_threshold: A.match_threshold,
    rho: A.rho};
  var shown = null;

  function fmt(x) {
    if (x === null || x === undefined || isNaN(x)) return "n/a";
    if (x === 0 || x === 1) return String(x);
    return (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4) ? Number(x.toPrecision(4)).toString() : x.toPrecision(4);
  }
  function oneIn(p) { return (p > 0 && p < 0.5) ? " (1 in " + fmt(1 / p) + ")" : ""; }
  function colour(x) { return "hsl(" + Math.round(120 * Math.max(0, Math.min(1, x))) + ",70%,82%)"; }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }

  function compute() {
    var h = byName[state.hasher], t = state.threshold, out = {hasher: h.name, threshold: t, fpr: {}, tpr: {}};
    Object.keys(h.neg).forEach(function (neg) {
      var c = h.neg[neg].counts, n = total(c), x = cum(c, t), i = Math.min(t, c.length - 1);
      out.fpr[neg] = {point: x / n, low: h.neg[neg].low[i], high: h.neg[neg].high[i], matches: x, pairs: n,
        interval: i <= h.neg[neg].dependent_upto ? "95%, pairs sharing a photo dependent"
          : "Clopper-Pearson 95%, if pairs were independent"};
    });
    Object.keys(h.families).forEach(function (f) {
      var c = h.families[f], n = total(c), x = cum(c, t);
      out.tpr[f] = {point: x / n, matches: x, pairs: n};
    });
    var neg = (state.negatives && h.neg[state.negatives]) ? state.negatives
      : (h.neg["orig-orig"] ? "orig-orig" : "variant-orig");
    out.risk = riskOf(out.fpr, neg);
    if (PAIRS.length) {
      out.hasher2 = state.hasher2;
      out.threshold2 = state.threshold2;
      out.cascade = state.hasher2 === null ? null : cascade(neg);
    }
    return out;
  }

  // the AND rule of (hasher, t) and (hasher2, t2) on the joint histograms
  function cascade(neg) {
    var pr = pairOf(state.hasher, state.hasher2), t1 = state.threshold, t2 = state.threshold2;
    var out = {hasher: state.hasher, threshold: t1, hasher2: state.hasher2, threshold2: t2, rule: "and",
      fpr: {}, tpr: {}};
    Object.keys(pr.pair.neg).forEach(function (ng) {
      var j = jointCounts(pr.pair.neg[ng], t1, t2, pr.swap), ci = clopperPearson(j.both, j.n);
      var p1 = j.m1 / j.n, p2 = j.m2 / j.n, pred = p1 * p2;
      out.fpr[ng] = {point: j.both / j.n, low: ci[0], high: ci[1], matches: j.both, pairs: j.n,
        rate_1: p1, rate_2: p2, predicted: pred, ratio: pred > 0 ? (j.both / j.n) / pred : null,
        interval: "Clopper-Pearson 95%, if pairs were independent"};
    });
    Object.keys(pr.pair.families).forEach(function (f) {
      var j = jointCounts(pr.pair.families[f], t1, t2, pr.swap);
      out.tpr[f] = {point: j.both / j.n, matches: j.both, pairs: j.n};
    });
    var ng = out.fpr[neg] ? neg : (out.fpr["orig-orig"] ? "orig-orig" : "variant-orig");
    out.risk = riskOf(out.fpr, ng);
    return out;
  }

  function riskOf(fpr, neg) {
    var m = state.database_size, n = state.photos_per_year, k = state.match_threshold, rho = state.rho;
    var r = {negatives: neg, database_size: m, photos_per_year: n, match_threshold: k, rho: rho,
      per_photo: null, per_account: null, matches_per_year: null, error: null};
    if (!(m >= 0 && n >= 1 && k >= 1 && Number.isInteger(m) && Number.isInteger(n) && Number.isInteger(k))) {
      r.error = "M must be a whole number >= 0, n and k whole numbers >= 1";
    } else if (n > 1e7) {
      r.error = "n above 10,000,000 photos is not supported here (use harness.risk)";
    } else if (k > n) {
      r.error = "k (" + k + ") exceeds n (" + n + ")";
    } else if (!(rho >= 0 && rho < 1)) {
      r.error = "rho must be in [0, 1)";
    } else {
      var f = fpr[neg], q = {}, acc = {};
      ["point", "low", "high"].forEach(function (key) {
        q[key] = perQuery(f[key], m);
        acc[key] = accountProbability(q[key], n, k, rho);
      });
      r.per_photo = q;
      r.per_account = acc;
      r.matches_per_year = n * q.point;
    }
    return r;
  }

  function bars(svg, series, t, bits) {
    var W = 340, H = 150, L = 6, B = 16, w = (W - 2 * L) / (bits + 1), ymax = 0, parts = [];
    series.forEach(function (s) {
      var n = total(s.counts) || 1;
      s.share = s.counts.map(function (c) { return c / n; });
      s.share.forEach(function (v) { if (v > ymax) ymax = v; });
    });
    ymax = ymax || 1;
    series.forEach(function (s) {
      var d = "M" + L + "," + (H - B);
      s.share.forEach(function (v, i) {
        var y = (H - B - (H - B - 6) * v / ymax).toFixed(1);
        d += "L" + (L + i * w).toFixed(1) + "," + y + "L" + (L + (i + 1) * w).toFixed(1) + "," + y;
      });
      d += "L" + (W - L) + "," + (H - B);
      parts.push('<path d="' + d + '" fill="' + s.fill + '" stroke="' + s.stroke + '" stroke-width="1"' +
        (s.dash ? ' stroke-dasharray="3,2"' : "") + "/>");
    });
    var x = (L + (t + 1) * w).toFixed(1);
    parts.push('<line x1="' + x + '" x2="' + x + '" y1="0" y2="' + (H - B) + '" stroke="#c00" stroke-width="1.5"/>');
    parts.push('<text x="' + L + '" y="' + (H - 3) + '" font-size="10">0</text><text x="' + (W - L) + '" y="' +
      (H - 3) + '" font-size="10" text-anchor="end">' + bits + ' bits</text><text x="' + x + '" y="10" ' +
      'font-size="10" fill="#c00"> t = ' + t + "</text>");
    svg.innerHTML = parts.join("");
  }

  function render() {
    var h = byName[state.hasher], o = compute();
    $("ex-tvalue").textContent = state.threshold + " of " + h.bits;
    var rows = "<tr><th>negatives</th><th>FPR [95%]</th><th>matches of pairs</th><th>interval</th></tr>";
    Object.keys(o.fpr).forEach(function (neg) {
      var f = o.fpr[neg];
      rows += "<tr><td>" + neg + "</td><td>" + fmt(f.point) + " [" + fmt(f.low) + ", " + fmt(f.high) + "]" +
        oneIn(f.point) + "</td><td>" + f.matches + " of " + f.pairs + "</td><td>" + esc(f.interval) + "</td></tr>";
    });
    $("ex-fpr").innerHTML = rows;
    var tp = "<tr><th>family</th><th>TPR</th><th>matches of pairs</th></tr>";
    Object.keys(o.tpr).forEach(function (f) {
      var v = o.tpr[f];
      tp += "<tr><td>" + esc(f) + '</td><td style="background:' + colour(v.point) + '">' + fmt(v.point) +
        "</td><td>" + v.matches + " of " + v.pairs + "</td></tr>";
    });
    $("ex-tpr").innerHTML = tp;
    var r = o.risk, rk = "";
    if (r.error) {
      $("ex-note").textContent = r.error;
    } else {
      $("ex-note").textContent = "";
      rk = riskRows(r);
    }
    $("ex-risk").innerHTML = rk;
    if ($("ex-cascade")) renderCascade(o);
    if (h.positive) {
      bars($("ex-hpos"), [{counts: h.positive, fill: "rgba(31,119,180,.35)", stroke: "#1f77b4"}],
        state.threshold, h.bits);
    }
    var negs = [];
    if (h.neg["orig-orig"]) negs.push({counts: h.neg["orig-orig"].counts, fill: "none", stroke: "#888", dash: true});
    if (h.neg["variant-orig"]) negs.push({counts: h.neg["variant-orig"].counts, fill: "rgba(0,0,0,.12)", stroke: "#000"});
    bars($("ex-hneg"), negs, state.threshold, h.bits);
    shown = o;
  }

  function riskRows(r) {
    if (r.error) return "";
    return "<tr><th></th><th>probability [95%]</th></tr><tr><td>per photo: matches any of M</td><td>" +
      fmt(r.per_photo.point) + " [" + fmt(r.per_photo.low) + ", " + fmt(r.per_photo.high) + "]" +
      oneIn(r.per_photo.point) + "</td></tr><tr><td>false matches per account per year</td><td>" +
      fmt(r.matches_per_year) + "</td></tr><tr><td>per account: flagged in a year (&ge; k of n)</td><td>" +
      fmt(r.per_account.point) + " [" + fmt(r.per_account.low) + ", " + fmt(r.per_account.high) + "]" +
      oneIn(r.per_account.point) + "</td></tr>";
  }

  function renderCascade(o) {
    var c = o.cascade, box = $("ex-cascade");
    $("ex-t2value").textContent = c ? c.threshold2 + " of " + pairOf(state.hasher, state.hasher2).bits2 : "-";
    box.hidden = !c;
    if (!c) return;
    var rows = "<tr><th>negatives</th><th>joint FPR [95%]</th><th>matches of pairs</th>" +
      "<th>if independent: FPR1 &times; FPR2</th><th>measured / independent</th></tr>";
    Object.keys(c.fpr).forEach(function (neg) {
      var f = c.fpr[neg];
      rows += "<tr><td>" + neg + "</td><td>" + fmt(f.point) + " [" + fmt(f.low) + ", " + fmt(f.high) + "]" +
        oneIn(f.point) + "</td><td>" + f.matches + " of " + f.pairs + "</td><td>" + fmt(f.rate_1) + " &times; " +
        fmt(f.rate_2) + " = " + fmt(f.predicted) + "</td><td>" + fmt(f.ratio) + "</td></tr>";
    });
    $("ex-cfpr").innerHTML = rows;
    $("ex-crisk").innerHTML = riskRows(c.risk);
    var tp = "<tr><th>family</th><th>" + esc(c.hasher) + " alone</th><th>both (AND)</th><th>matches of pairs</th></tr>";
    Object.keys(c.tpr).forEach(function (f) {
      var v = c.tpr[f], one = o.tpr[f];
      tp += "<tr><td>" + esc(f) + "</td><td>" + (one ? fmt(one.point) : "n/a") + '</td><td style="background:' +
        colour(v.point) + '">' + fmt(v.point) + "</td><td>" + v.matches + " of " + v.pairs + "</td></tr>";
    });
    $("ex-ctpr").innerHTML = tp;
  }

  function syncInputs() {
    var h = byName[state.hasher], slider = $("ex-threshold"), sel = $("ex-neg");
    $("ex-hasher").value = state.hasher;
    slider.max = String(h.bits);
    slider.value = String(state.threshold);
    slider.setAttribute("aria-valuetext", state.threshold + " bits");
    if (sel.getAttribute("data-hasher") !== h.name) {  // options of this hasher's negative sets
      sel.innerHTML = Object.keys(h.neg).map(function (n) { return "<option>" + n + "</option>"; }).join("");
      sel.setAttribute("data-hasher", h.name);
    }
    if (!state.negatives || !h.neg[state.negatives]) state.negatives = h.neg["orig-orig"] ? "orig-orig" : "variant-orig";
    sel.value = state.negatives;
    var sel2 = $("ex-hasher2");
    if (sel2) {
      if (sel2.getAttribute("data-hasher") !== h.name) {
        sel2.innerHTML = '<option value="">none</option>' + partners(h.name).map(function (n) {
          return '<option value="' + esc(n) + '">' + esc(n) + "</option>";
        }).join("");
        sel2.setAttribute("data-hasher", h.name);
      }
      sel2.value = state.hasher2 === null ? "" : state.hasher2;
      var s2 = $("ex-threshold2"), pr = state.hasher2 === null ? null : pairOf(h.name, state.hasher2);
      s2.disabled = !pr;
      if (pr) {
        s2.max = String(pr.bits2);
        s2.value = String(state.threshold2);
        s2.setAttribute("aria-valuetext", state.threshold2 + " bits");
      }
    }
    $("ex-m").value = String(state.database_size);
    $("ex-n").value = String(state.photos_per_year);
    $("ex-k").value = String(state.match_threshold);
    $("ex-rho").value = String(state.rho);
  }

  function set(o) {
    o = o || {};
    if (o.hasher !== undefined) {
      if (!byName[o.hasher]) throw new Error("unknown hasher " + o.hasher + "; available: " + Object.keys(byName).join(", "));
      if (o.hasher !== state.hasher && o.threshold === undefined) o.threshold = byName[o.hasher].threshold;
      state.hasher = o.hasher;
    }
    var bits = byName[state.hasher].bits;
    if (o.threshold !== undefined) {
      var t = Number(o.threshold);
      if (!Number.isInteger(t) || t < 0 || t > bits) throw new Error("threshold must be a whole number in 0.." + bits);
      state.threshold = t;
    }
    if (o.hasher2 !== undefined || o.threshold2 !== undefined) {
      if (!PAIRS.length) throw new Error("no joint histograms in this report (set metrics.hasher_pairs and run again)");
    }
    if (o.hasher2 !== undefined && o.hasher2 !== null && o.hasher2 !== "") {
      var pr = pairOf(state.hasher, o.hasher2);
      if (!pr) {
        throw new Error("no joint histograms of (" + state.hasher + ", " + o.hasher2 + "); available: " +
          (partners(state.hasher).join(", ") || "none"));
      }
      if (o.hasher2 !== state.hasher2 && o.threshold2 === undefined) {
        o.threshold2 = byName[o.hasher2] ? Math.min(byName[o.hasher2].threshold, pr.bits2) : Math.floor(pr.bits2 / 4);
      }
      state.hasher2 = o.hasher2;
    } else if (o.hasher2 !== undefined) {
      state.hasher2 = null;
      state.threshold2 = null;
    } else if (state.hasher2 !== null && !pairOf(state.hasher, state.hasher2)) {
      state.hasher2 = null;  // the new first hasher has no joint histograms with the old second one
      state.threshold2 = null;
    }
    if (o.threshold2 !== undefined && o.threshold2 !== null) {
      if (state.hasher2 === null) throw new Error("threshold2 needs a second hasher (hasher2)");
      var b2 = pairOf(state.hasher, state.hasher2).bits2, t2 = Number(o.threshold2);
      if (!Number.isInteger(t2) || t2 < 0 || t2 > b2) throw new Error("threshold2 must be a whole number in 0.." + b2);
      state.threshold2 = t2;
    }
    ["negatives", "database_size", "photos_per_year", "match_threshold", "rho"].forEach(function (key) {
      if (o[key] !== undefined) state[key] = key === "negatives" ? String(o[key]) : Number(o[key]);
    });
    syncInputs();
    render();
    return read();
  }
  function read() { return JSON.parse(JSON.stringify(shown)); }

  $("ex-hasher").addEventListener("change", function (e) { set({hasher: e.target.value}); });
  $("ex-threshold").addEventListener("input", function (e) { set({threshold: Number(e.target.value)}); });
  $("ex-neg").addEventListener("change", function (e) { set({negatives: e.target.value}); });
  if ($("ex-hasher2")) {
    $("ex-hasher2").addEventListener("change", function (e) { set({hasher2: e.target.value || null}); });
    $("ex-threshold2").addEventListener("input", function (e) { set({threshold2: Number(e.target.value)}); });
  }
  [["ex-m", "database_size"], ["ex-n", "photos_per_year"], ["ex-k", "match_threshold"], ["ex-rho", "rho"]]
    .forEach(function (p) {
      $(p[0]).addEventListener("input", function (e) {
        state[p[1]] = e.target.value === "" ? NaN : Number(e.target.value);
        render();
      });
    });
  window.explorer = {set: set, read: read, _math: {lgamma: lgamma, accountProbability: accountProbability,
    perQuery: perQuery, clopperPearson: clopperPearson}};
  syncInputs();
  render();
  root.hidden = false;
  window.explorer.ready_ms = performance.now();  // time to interactive, from navigation start
})();
