/* Selfheal pages: render Plotly figures (JSON embedded in the page, plotly.js served by the
   app itself) on load and after every htmx swap; jump from a policy problem to its line. */
(function () {
  "use strict";

  function renderCharts(root) {
    if (!window.Plotly || !root.querySelectorAll) return;
    root.querySelectorAll("[data-figure]:not([data-rendered])").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-figure"));
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      el.setAttribute("data-rendered", "1");
      window.Plotly.newPlot(el, figure.data, figure.layout, {
        responsive: true,
        displaylogo: false,
        modeBarButtonsToRemove: ["select2d", "lasso2d"],
      });
    });
  }

  function gotoLine(lineNumber) {
    var area = document.querySelector("#policy-form textarea");
    if (!area) return;
    var lines = area.value.split("\n");
    var start = 0;
    for (var i = 0; i < lineNumber - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var end = start + (lines[lineNumber - 1] || "").length;
    area.focus();
    area.setSelectionRange(start, end);
    var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (lineNumber - 3) * lineHeight);
  }

  document.addEventListener("DOMContentLoaded", function () { renderCharts(document); });
  document.addEventListener("htmx:load", function (event) { renderCharts(event.target); });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-goto-line]");
    if (!link) return;
    event.preventDefault();
    gotoLine(parseInt(link.getAttribute("data-goto-line"), 10));
  });
})();
