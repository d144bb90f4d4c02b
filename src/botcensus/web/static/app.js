// botcensus dashboard: draws the charts and the map from the JSON API of this same site.
// No inline script, no third-party request: uPlot and topojson-client are vendored.
"use strict";

(function () {
  const PALETTE = ["#1f5fa8", "#d1495b", "#2e933c", "#edae49", "#6b4e9b", "#00798c",
    "#a85d1f", "#4d4d4d", "#c23b8a", "#7a9a01"];

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(url + ": " + r.status); }
        return r.json();
      });
  }

  function day(text) { return Date.parse(text + "T00:00:00Z") / 1000; }

  function fail(el, error) {
    el.classList.add("failed");
    const p = document.createElement("p");
    p.className = "refused";
    p.textContent = "Chart not drawn: " + error.message;
    el.appendChild(p);
  }

  function width(el) { return Math.max(320, el.clientWidth || 800); }

  // Shade the windows that run past the data (partial windows).
  function partialShade(spans) {
    return {
      hooks: {
        drawClear: [function (u) {
          const ctx = u.ctx;
          ctx.save();
          ctx.fillStyle = "rgba(140,150,165,0.10)";
          spans.forEach(function (s) {
            const x0 = u.valToPos(s[0], "x", true);
            const x1 = u.valToPos(s[1], "x", true);
            ctx.fillRect(Math.min(x0, x1), u.bbox.top, Math.abs(x1 - x0) || 4, u.bbox.height);
          });
          ctx.restore();
        }],
      },
    };
  }

  function seriesChart(el, doc) {
    const unit = doc.unit;
    const by = doc.query.by.length ? doc.query.by[0] : null;
    const xs = Array.from(new Set(doc.rows.map(function (r) { return r.window_start; }))).sort();
    const groups = [];
    const values = {};
    doc.rows.forEach(function (r) {
      const key = by ? String(r[by] === null ? "unknown" : r[by]) : "all";
      if (!(key in values)) { values[key] = {}; groups.push(key); }
      values[key][r.window_start] = r[unit];
    });
    const data = [xs.map(day)].concat(groups.map(function (g) {
      return xs.map(function (x) { return x in values[g] ? values[g][x] : null; });
    }));
    const spans = doc.rows.filter(function (r) { return r.partial; })
      .map(function (r) { return [day(r.window_start), day(r.window_end) + 86400]; });
    const opts = {
      width: width(el), height: 320,
      plugins: [partialShade(spans)],
      scales: { x: { time: true } },
      axes: [{ label: doc.query.window === "week" ? "week starting (UTC date)" : "day (UTC date)" }, { label: unit + (unit.indexOf("hll") >= 0 ? " (estimated, distinct addresses)" : " (distinct addresses)"), size: 70 }],
      series: [{ label: doc.query.window === "week" ? "week starting" : "day" }].concat(groups.map(function (g, i) {
        return { label: by === "asn" && g !== "unknown" ? "AS" + g : g, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false };
      })),
    };
    if (xs.length === 0) { throw new Error("no rows for this query"); }
    new uPlot(opts, data, el);
    el.dataset.drawn = String(doc.rows.length);
  }

  function estimatesChart(el, doc) {
    const rows = doc.rows;
    if (!rows.length) { throw new Error(doc.notes.join("; ") || "no estimates"); }
    const xs = rows.map(function (r) { return day(r.window_start); });
    const pick = function (c) { return rows.map(function (r) { return r[c] === undefined ? null : r[c]; }); };
    const data = [xs, pick("hosts_hi"), pick("hosts_lo"), pick("hosts_est"), pick("unique_ip")];
    const spans = rows.filter(function (r) { return r.partial; })
      .map(function (r) { return [day(r.window_start), day(r.window_end) + 86400]; });
    new uPlot({
      width: width(el), height: 320, plugins: [partialShade(spans)],
      scales: { x: { time: true } },
      axes: [{ label: "week starting (UTC date)" }, { label: "hosts (estimated) / unique_ip (addresses)", size: 70 }],
      series: [{ label: "week starting" },
        { label: "hosts_hi (90%)", stroke: "rgba(31,95,168,0.3)" },
        { label: "hosts_lo (90%)", stroke: "rgba(31,95,168,0.3)" },
        { label: "hosts_est (estimate)", stroke: PALETTE[0], width: 2 },
        { label: "unique_ip (exact)", stroke: PALETTE[1], width: 2, dash: [6, 4] }],
      bands: [{ series: [1, 2], fill: "rgba(31,95,168,0.15)" }],
    }, data, el);
    el.dataset.drawn = String(rows.length);
  }

  function decayChart(el, doc) {
    const unit = doc.unit || "unique_ip";
    const rows = doc.weekly.filter(function (r) { return r[unit] !== null && r[unit] !== undefined; });
    if (!rows.length) { throw new Error(doc.notes.join("; ") || "no complete weeks"); }
    new uPlot({
      width: width(el), height: 300,
      scales: { x: { time: true }, y: { distr: 3 } },
      axes: [{ label: "week starting (UTC date)" }, { label: unit + " per complete week (log)", size: 70 }],
      series: [{ label: "week starting" }, { label: unit, stroke: PALETTE[0], width: 2, points: { show: true } }],
    }, [rows.map(function (r) { return day(r.window_start); }), rows.map(function (r) { return r[unit]; })], el);
    el.dataset.drawn = String(rows.length);
  }

  function curveChart(el, doc) {
    const rows = doc.weeks;
    if (!rows.length) { throw new Error(doc.notes.join("; ") || "no sightings in your scope"); }
    new uPlot({
      width: width(el), height: 300, scales: { x: { time: true } },
      axes: [{ label: "week starting (UTC date)" }, { label: "share of first complete week (unique_ip)", size: 70 }],
      series: [{ label: "week starting" },
        { label: "your networks", stroke: PALETTE[0], width: 2 },
        { label: (doc.country || "country") + " (all networks)", stroke: PALETTE[1], width: 2, dash: [6, 4] }],
    }, [rows.map(function (r) { return day(r.window_start); }),
      rows.map(function (r) { return r.own_share; }), rows.map(function (r) { return r.country_share; })], el);
    const summary = document.getElementById("curve-summary");
    if (summary) {
      const half = function (d) {
        return d && d.half_life_days !== null && d.half_life_days !== undefined
          ? d.half_life_days.toFixed(1) + " days" : "not estimated";
      };
      summary.textContent = "Half-life: your networks " + half(doc.own_decay) + "; " +
        (doc.country || "country") + " " + half(doc.country_decay) + ".";
    }
    el.dataset.drawn = String(rows.length);
  }

  // The world map: Natural Earth countries (world-atlas), equirectangular, coloured by count.
  function mapChart(el, doc) {
    return Promise.all([getJSON("/static/vendor/countries-110m.json"), getJSON("/static/vendor/iso-3166-codes.json")])
      .then(function (loaded) {
        const topo = loaded[0];
        const alpha2 = {};
        loaded[1].forEach(function (c) { alpha2[c[2]] = c[0]; });
        const counts = {};
        const small = {};
        doc.rows.forEach(function (r) {
          if (r.country === null) { return; }
          if (r.suppressed) { small[r.country] = true; } else { counts[r.country] = r.unique_ip; }
        });
        const max = Math.max.apply(null, Object.values(counts).concat([1]));
        const W = 960, H = 480;
        const ns = "http://www.w3.org/2000/svg";
        const svg = document.createElementNS(ns, "svg");
        svg.setAttribute("viewBox", "0 0 " + W + " " + H);
        svg.setAttribute("id", "map");
        svg.setAttribute("role", "img");
        const features = topojson.feature(topo, topo.objects.countries).features;
        features.forEach(function (f) {
          const polys = f.geometry === null ? [] : (f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates);
          let d = "";
          polys.forEach(function (poly) {
            poly.forEach(function (ring) {
              ring.forEach(function (p, i) {
                d += (i ? "L" : "M") + ((p[0] + 180) / 360 * W).toFixed(1) + "," + ((90 - p[1]) / 180 * H).toFixed(1);
              });
              d += "Z";
            });
          });
          const path = document.createElementNS(ns, "path");
          path.setAttribute("d", d);
          const cc = alpha2[f.id];
          const name = f.properties && f.properties.name ? f.properties.name : cc;
          const title = document.createElementNS(ns, "title");
          if (cc && cc in counts) {
            const t = Math.sqrt(counts[cc] / max);
            path.setAttribute("fill", "rgb(" + Math.round(250 - 200 * t) + "," + Math.round(235 - 170 * t) + "," + Math.round(220 - 120 * t) + ")");
            path.setAttribute("class", "country has-data");
            path.dataset.cc = cc;
            path.dataset.value = counts[cc];
            title.textContent = name + " (" + cc + "): " + counts[cc].toLocaleString("en") + " unique_ip";
          } else if (cc && small[cc]) {
            path.setAttribute("class", "country small");
            path.dataset.cc = cc;
            title.textContent = name + " (" + cc + "): fewer than " + doc.suppress_below + " unique_ip";
          } else {
            path.setAttribute("class", "country none");
            title.textContent = name + ": none seen";
          }
          path.appendChild(title);
          svg.appendChild(path);
        });
        el.appendChild(svg);
        el.dataset.drawn = String(Object.keys(counts).length);
      });
  }

  function healthPanel(el) {
    // Refresh the sinkhole figures every 5 s: the request rate needs two readings.
    const tick = function () {
      getJSON(el.dataset.api).then(function (doc) {
        const s = doc.sinkhole;
        el.querySelectorAll("[data-k]").forEach(function (dd) {
          const v = s[dd.dataset.k];
          if (dd.dataset.k === "running") { return; }
          if (typeof v === "number") {
            const digits = dd.dataset.k === "requests_per_second" ? 1 : (dd.dataset.k === "wal_lag_seconds" ? 2 : 0);
            const text = v.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
            if (dd.dataset.k === "wal_lag_seconds") {
              dd.textContent = text + " s, " + s.wal_lag_bytes.toLocaleString("en") + " bytes not fsynced";
            } else { dd.textContent = text; }
          }
        });
        el.dataset.drawn = "1";
      }).catch(function () { /* keep the figures shown */ });
    };
    tick();
    window.setInterval(tick, 5000);
  }

  const DRAW = { series: seriesChart, estimates: estimatesChart, decay: decayChart, curve: curveChart };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      const kind = el.dataset.chart;
      if (kind === "health") { healthPanel(el); return; }
      getJSON(el.dataset.api)
        .then(function (doc) { return kind === "map" ? mapChart(el, doc) : DRAW[kind](el, doc); })
        .catch(function (error) { fail(el, error); });
    });
    document.querySelectorAll("form.filters select").forEach(function (s) {
      s.addEventListener("change", function () { s.form.requestSubmit ? s.form.requestSubmit() : s.form.submit(); });
    });
  });
}());
