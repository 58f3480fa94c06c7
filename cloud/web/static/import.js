// The import form (cloud/web/templates/sku_import.html): a file over the size limit is
// refused here, before it is sent, with the same sentence the server answers (a browser
// still sending a large body when the server refuses it may show a reset connection
// instead of the answer). Without script, the server's 413 page says it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("import-form");
  const input = document.getElementById("file");
  const refusal = document.getElementById("too-large");
  if (!form || !input || !refusal) return;
  const check = () => {
    const max = Number(form.dataset.maxBytes);
    const big = input.files.length > 0 && input.files[0].size > max;
    refusal.hidden = !big;
    return !big;
  };
  input.addEventListener("change", check);
  form.addEventListener("submit", (event) => {
    if (!check()) event.preventDefault();
  });
});
