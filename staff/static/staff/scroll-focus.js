// Phones: a table wider than the screen scrolls inside itself (admin/base_site.html). A region that
// scrolls must be reachable by keyboard to be scrolled without a pointer (WCAG 2.1.1, axe-core's
// scrollable-region-focusable): each one that does scroll gets tabindex="0" and a name.
(function () {
  "use strict";
  function mark() {
    var regions = document.querySelectorAll("#content table, #content .results");
    Array.prototype.forEach.call(regions, function (region) {
      var overflow = window.getComputedStyle(region).overflowX;
      var scrolls = (overflow === "auto" || overflow === "scroll") && region.scrollWidth > region.clientWidth + 1;
      if (!scrolls || region.hasAttribute("tabindex")) {
        return;
      }
      region.setAttribute("tabindex", "0");
      if (!region.getAttribute("aria-label") && !region.querySelector("caption")) {
        region.setAttribute("aria-label", "表（横にスクロールできます）");
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("resize", mark);
})();
