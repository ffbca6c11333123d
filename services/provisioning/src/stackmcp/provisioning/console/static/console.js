// stackmcp console: progressive enhancement only; every page works without this file.
"use strict";
(() => {
  document.documentElement.classList.add("js");

  const announce = (text) => {
    const region = document.getElementById("announce");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 50);
  };

  // After a failed submit, the error summary takes focus (its links lead to each field).
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // Times in the browser's zone: <time datetime="ISO">UTC text</time> shows the local time with
  // its zone; the title keeps the UTC text.
  const pad = (n) => String(n).padStart(2, "0");
  const zoneOf = (date) => {
    const part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(date).find((p) => p.type === "timeZoneName");
    return part ? part.value : "";
  };
  const local = (date, seconds) => {
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    const time = `${pad(date.getHours())}:${pad(date.getMinutes())}` +
      (seconds ? `:${pad(date.getSeconds())}` : "");
    return `${day} ${time} ${zoneOf(date)}`.trim();
  };
  document.querySelectorAll("time[datetime]").forEach((el) => {
    const date = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(date.getTime()) || el.dataset.local) return;
    const utc = el.textContent.trim();
    if (!el.title) el.title = utc;
    el.textContent = local(date, /\d\d:\d\d:\d\d/.test(utc));
    el.dataset.local = "1";
  });

  // Copy buttons: <button data-copy="element-id">.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.tagName === "INPUT" ? source.value : source.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      if (source.tagName === "INPUT") source.select();
      else { window.getSelection().removeAllRanges(); window.getSelection().addRange(range); }
      document.execCommand("copy");
    }
    button.textContent = "\u2713 Copied";
    button.classList.add("copied");
    announce("Copied to the clipboard");
    window.setTimeout(() => {
      button.textContent = button.dataset.label || "Copy";
      button.classList.remove("copied");
    }, 2000);
  });

  // Expiry countdowns: <span data-countdown="ISO time">.
  const left = (iso) => {
    let seconds = Math.floor((Date.parse(iso) - Date.now()) / 1000);
    if (!(seconds > 0)) return "expired";
    const days = Math.floor(seconds / 86400); seconds %= 86400;
    const hours = Math.floor(seconds / 3600); seconds %= 3600;
    const minutes = Math.floor(seconds / 60); seconds %= 60;
    if (days) return `in ${days} d ${hours} h ${minutes} min`;
    if (hours) return `in ${hours} h ${minutes} min ${seconds} s`;
    return `in ${minutes} min ${seconds} s`;
  };
  const tick = () => {
    document.querySelectorAll("[data-countdown]").forEach((el) => {
      el.textContent = left(el.dataset.countdown);
    });
  };
  tick();
  window.setInterval(tick, 1000);

  // The browser's time zone, for a custom expiry date.
  document.querySelectorAll("input[name=tz_offset]").forEach((input) => {
    input.value = String(new Date().getTimezoneOffset());
  });

  // Show the date field only when "On a date I choose" is picked.
  const expiry = document.getElementById("expiry");
  const custom = document.getElementById("custom-expiry");
  if (expiry && custom) {
    const sync = () => { custom.hidden = expiry.value !== "custom"; };
    expiry.addEventListener("change", sync);
    sync();
  }

  // Live preview of the tools a filter exposes, rendered by the server.
  const form = document.querySelector("form[data-preview]");
  const preview = document.getElementById("preview");
  if (form && preview) {
    // What the preview depends on (never the CSRF token: the preview is a GET).
    const fields = ["methods", "tags", "exclude_destructive", "exclude_tags", "exclude_tools",
      "confirm", "budgets", "pin"];
    let sequence = 0;
    let timer = 0;
    const refresh = async () => {
      const mine = ++sequence;
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(form)) {
        if (fields.includes(name)) params.append(name, value);
      }
      try {
        const answer = await fetch(`${form.dataset.preview}?${params}`, {
          credentials: "same-origin", headers: { Accept: "text/html" },
        });
        const body = await answer.text();
        if (mine !== sequence) return;  // a newer choice is already on its way
        preview.innerHTML = answer.ok ? body : '<p class="problem">The preview is not available right now.</p>';
        preview.dataset.state = "ready";
      } catch {
        if (mine === sequence) preview.innerHTML = '<p class="problem">The preview is not available right now.</p>';
      }
    };
    const later = (event, delay) => {
      if (!fields.includes(event.target.name)) return;
      preview.dataset.state = "loading";
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, delay);
    };
    form.addEventListener("change", (event) => later(event, 120));
    // Typing in a text box waits for a pause, so the preview does not flicker per key.
    form.addEventListener("input", (event) => {
      if (event.target.matches("input[type=text], input:not([type]), textarea")) later(event, 400);
    });
  }
})();
