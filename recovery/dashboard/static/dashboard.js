// Draws every figure the page carries: each chart element names the JSON block holding its
// plotly figure (data and layout), built on the server.
(function () {
  "use strict";
  document.querySelectorAll("[data-figure]").forEach(function (element) {
    var source = document.getElementById(element.dataset.figure);
    if (!source || typeof Plotly === "undefined") {
      return;
    }
    var figure = JSON.parse(source.textContent);
    Plotly.newPlot(element, figure.data, figure.layout,
                   {responsive: true, displaylogo: false});
  });
})();
