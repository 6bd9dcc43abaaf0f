// Making, finding and reading elements, and the figures shown beside answers, steps and in the header.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// A number field's value; null when left empty (the server's default then).
export const numberOf = (id) => ($(id).value === "" ? null : Number($(id).value));

export function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

export const seconds = (s) => (s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(1)} s`);
export const mebibytes = (mb) => (mb >= 1024 ? `${(mb / 1024).toFixed(1)} GiB` : `${mb} MiB`);

// One line from webui.speed's figures: first-token latency, tokens per second, tokens in and out.
export function speedLine(usage) {
  if (!usage) return "";
  return [
    usage.first_token_seconds != null && `${seconds(usage.first_token_seconds)} to first token`,
    usage.tokens_per_second != null && `${usage.tokens_per_second.toFixed(1)} tok/s`,
    `${usage.prompt_tokens} tokens in`,
    `${usage.completion_tokens} out`,
    usage.seconds != null && `${seconds(usage.seconds)} in all`,
  ].filter(Boolean).join(" · ");
}
