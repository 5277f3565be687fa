/* Projector mode before the first paint: a teacher set it once, it stays (app.js
 * toggles it). A file, not an inline script: the page allows no inline scripts. */
if (localStorage.getItem("interleave.projector") === "1") document.documentElement.classList.add("projector");
