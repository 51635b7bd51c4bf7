/* The portal's only script besides htmx. The Content-Security-Policy allows no inline script or style
   (docs/security.md), so what templates used to say inline they now say with data attributes, read here. */
"use strict";

/* data-swap-statuses="400 409": an htmx response with one of these statuses still replaces its target (the form
   with its errors, the conflict banner); htmx would otherwise treat it as an error and leave the page as it was. */
document.addEventListener("htmx:beforeSwap", (event) => {
  const scope = event.target.closest("[data-swap-statuses]");
  if (scope && scope.dataset.swapStatuses.split(/\s+/).includes(String(event.detail.xhr.status))) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

/* data-left / data-width (in %) and data-row / data-rows (in timeline rows) place the stage-history bars from the
   server's numbers through the CSSOM, which the policy allows (a style="" attribute it does not). */
const ROW_REM = 1.6;
function placeBars(root) {
  for (const element of root.querySelectorAll("[data-left], [data-rows]")) {
    const { left, width, row, rows } = element.dataset;
    if (left !== undefined) element.style.left = `${Number(left)}%`;
    if (width !== undefined) element.style.width = `${Number(width)}%`;
    if (row !== undefined) element.style.top = `${Number(row) * ROW_REM + 0.1}rem`;
    if (rows !== undefined) element.style.height = `${Number(rows) * ROW_REM + 0.2}rem`;
  }
}
document.addEventListener("DOMContentLoaded", () => placeBars(document));
document.addEventListener("htmx:load", (event) => placeBars(event.target));
