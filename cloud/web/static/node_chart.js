// A node's backlog and lag over time with uPlot (vendored). The data is the page's JSON
// (no inline script: the Content-Security-Policy allows scripts from 'self' only); the same
// numbers are in the table below the charts for people without script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var src = document.getElementById("node-history");
  if (!src || typeof uPlot === "undefined") return;
  var data = JSON.parse(src.textContent);
  // uPlot's own date formats say "6pm" and "Dec": a 24-hour clock everywhere, and month
  // numbers on a Chinese page (uPlot's fmtDate option, uPlot 1.6 README).
  var zh = document.documentElement.lang === "zh-CN";
  function fmtDate(tpl) {
    tpl = tpl.replace(/\{h\}:\{mm\}\{aa\}/g, "{HH}:{mm}").replace(/\{h\}\{aa\}/g, "{HH}:00").replace(/\{aa\}/g, "");
    if (zh) tpl = tpl.replace(/\{MMMM?\}/g, "{M}月");
    return uPlot.fmtDate(tpl);
  }
  function draw(box, series, columns) {
    if (!box) return;
    new uPlot({
      title: box.dataset.title,
      fmtDate: fmtDate,
      width: Math.min(box.clientWidth || 900, 1300), height: 220,
      scales: {
        x: { time: true, range: function () { return [data.from, data.to]; } },
        // from zero: a backlog of 3 should not look like a wall
        y: { range: function (u, min, max) { return [0, Math.max(1, max || 0) * 1.1]; } },
      },
      // the x series' label is uPlot's English "Time" unless given: the page's word for it
      series: [{ label: box.dataset.time }].concat(series),
      // null is a gap: the node was offline (cloud/nodes/history.py writes no figures then)
      spanGaps: false,
    }, [data.t].concat(columns), box);
  }
  var backlog = document.getElementById("backlog-chart");
  draw(backlog, [{ label: backlog && backlog.dataset.series, stroke: "#17324d", width: 2, fill: "rgba(23,50,77,.08)" }],
       [data.backlog]);
  var lag = document.getElementById("lag-chart");
  draw(lag, [
    { label: lag && lag.dataset.age, stroke: "#a4161a", width: 2 },
    { label: lag && lag.dataset.lag, stroke: "#0b4f8a", width: 2 },
  ], [data.age_s, data.lag_s]);
});
