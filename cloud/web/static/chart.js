// The home page's 30-day shipped trend with uPlot (vendored). Data comes from the page as
// JSON (no inline script: the Content-Security-Policy allows scripts from 'self' only).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("trend-chart");
  var src = document.getElementById("trend-data");
  if (!box || !src || typeof uPlot === "undefined") return;
  var data = JSON.parse(src.textContent);
  var xs = data.days.map(function (d) { return Date.parse(d + "T12:00:00+08:00") / 1000; });
  new uPlot({
    width: Math.min(box.clientWidth || 900, 1300), height: 220,
    series: [{}, { label: box.dataset.series, stroke: "#17324d", width: 2, fill: "rgba(23,50,77,.08)" }],
    axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return v.toFixed(0); }); } }],
  }, [xs, data.shipped], box);
});
