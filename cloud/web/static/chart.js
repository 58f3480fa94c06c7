// The home page's 30-day shipped trend with uPlot (vendored). Data comes from the page as
// JSON (no inline script: the Content-Security-Policy allows scripts from 'self' only).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("trend-chart");
  var src = document.getElementById("trend-data");
  if (!box || !src || typeof uPlot === "undefined") return;
  var data = JSON.parse(src.textContent);
  // uPlot's own date formats say "6pm" and "Dec": a 24-hour clock everywhere, and month
  // numbers on a Chinese page (uPlot's fmtDate option, uPlot 1.6 README).
  var zh = document.documentElement.lang === "zh-CN";
  function fmtDate(tpl) {
    tpl = tpl.replace(/\{h\}:\{mm\}\{aa\}/g, "{HH}:{mm}").replace(/\{h\}\{aa\}/g, "{HH}:00").replace(/\{aa\}/g, "");
    if (zh) tpl = tpl.replace(/\{MMMM?\}/g, "{M}月");
    return uPlot.fmtDate(tpl);
  }
  var xs = data.days.map(function (d) { return Date.parse(d + "T12:00:00+08:00") / 1000; });
  new uPlot({
    width: Math.min(box.clientWidth || 900, 1300), height: 220,
    fmtDate: fmtDate,
    // the x series' label is uPlot's English "Time" unless given: the page's word for it
    series: [{ label: box.dataset.time }, { label: box.dataset.series, stroke: "#17324d", width: 2, fill: "rgba(23,50,77,.08)" }],
    axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return v.toFixed(0); }); } }],
  }, [xs, data.shipped], box);
});
