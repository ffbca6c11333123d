// stackmcp console, server form: finer methods follow Read/Write, tag counts follow the preview.
// Progressive enhancement only: without it the server renders the same state on each review.
"use strict";
(() => {
  const form = document.getElementById("server-form");
  if (!form) return;

  // A finer method that Read (or Write) already includes shows ticked and disabled.
  const classBox = (name) => form.querySelector(`input[name=methods][value=${name}]:not([data-covered-by])`);
  const follow = () => {
    form.querySelectorAll("input[data-covered-by]").forEach((box) => {
      const by = classBox(box.dataset.coveredBy);
      const included = Boolean(by && by.checked);
      if (included) {
        if (!box.disabled) box.dataset.own = box.checked ? "1" : "";
        box.checked = true;
        box.disabled = true;
      } else if (box.disabled) {
        box.disabled = false;
        box.checked = box.dataset.own === "1";
      }
      const note = box.parentElement.querySelector("[data-included]");
      if (note) note.hidden = !included;
    });
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "methods") follow();
  });
  follow();

  // Tag counts: the preview fragment carries them for the chosen methods.
  const preview = document.getElementById("preview");
  if (!preview) return;
  const counts = () => {
    preview.querySelectorAll("#tag-counts [data-tag]").forEach((item) => {
      const target = form.querySelector(`[data-tag-count="${CSS.escape(item.dataset.tag)}"] .n`);
      if (target) target.textContent = item.dataset.count;
    });
  };
  new MutationObserver(counts).observe(preview, { childList: true });
})();
