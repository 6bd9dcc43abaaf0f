// Files attached to the message being written. Each is checked when it is attached, as the server
// checks it (its type by its content, its size, a picture's pixel count: webui/uploads.py sends the
// limits), so a bad one is refused at once with a message and never sent; each can be removed.

import { $, el } from "./dom.js";
import { deleteAttachment, newId, saveAttachment } from "./store.js";

const SIGNATURES = { // [offset, bytes]: what the server's readers accept
  image: [[0, [0x89, 0x50, 0x4e, 0x47]], [0, [0xff, 0xd8, 0xff]], [0, "GIF8"], [0, "BM"], [8, "WEBP"]],
  video: [[4, "ftyp"], [0, [0x1a, 0x45, 0xdf, 0xa3]], [8, "AVI "]],
};

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 ? 1 : 0)} MiB`;

function matches(head, [offset, bytes]) {
  const wanted = typeof bytes === "string" ? [...bytes].map((c) => c.charCodeAt(0)) : bytes;
  return wanted.every((byte, i) => head[offset + i] === byte);
}

async function kindOf(file, limits) {
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const kind = Object.keys(SIGNATURES).find((k) => SIGNATURES[k].some((s) => matches(head, s)));
  if (!kind) {
    throw new Error(`${file.name} is not a picture or a video the model can be shown (by its content, not its name): `
      + `pictures ${limits.image.formats.join(", ")}; videos ${limits.video.formats.join(", ")}`);
  }
  const limit = limits[kind];
  if (file.size > limit.max_bytes) {
    throw new Error(`${file.name} is ${mib(file.size)}; ${kind === "image" ? "pictures" : "videos"} of up to `
      + `${mib(limit.max_bytes)} are accepted`);
  }
  if (kind === "image") {
    let bitmap;
    try { bitmap = await createImageBitmap(file); } catch {
      throw new Error(`${file.name} cannot be read as a picture`);
    }
    const { width, height } = bitmap;
    bitmap.close();
    if (width * height > limit.max_pixels) {
      throw new Error(`${file.name} has ${width}x${height} pixels; at most ${limit.max_pixels / 1e6} million are accepted`);
    }
  }
  return kind;
}

export class Attachments {
  constructor() {
    this.pending = []; // {id, type, name, size, modified, url}
    this.limits = null; // from /api/status
  }

  async add(files) {
    const refused = [];
    for (const file of files) {
      if (this.pending.some((p) => p.name === file.name && p.size === file.size && p.modified === file.lastModified)) {
        refused.push(`${file.name} is attached already`);
        continue;
      }
      try {
        const type = await kindOf(file, this.limits);
        const id = newId();
        await saveAttachment(id, file);
        this.pending.push({ id, type, name: file.name, size: file.size, modified: file.lastModified,
          url: URL.createObjectURL(file) });
      } catch (error) {
        refused.push(error.message);
      }
    }
    $("attach-error").textContent = refused.join("\n");
    $("attach-error").hidden = !refused.length;
    this.render();
  }

  // The attachments, as parts of the message being sent; the list empties.
  take(fps) {
    const parts = this.pending.map((p) => ({ type: p.type, id: p.id, name: p.name, ...(p.type === "video" ? { fps } : {}) }));
    for (const p of this.pending) URL.revokeObjectURL(p.url);
    this.pending = [];
    $("attach-error").hidden = true;
    this.render();
    return parts;
  }

  remove(attachment) {
    this.pending = this.pending.filter((p) => p !== attachment);
    URL.revokeObjectURL(attachment.url);
    deleteAttachment(attachment.id);
    this.render();
    $("chat-input").focus();
  }

  render() {
    $("attachments").replaceChildren(...this.pending.map((p) => el("li", { class: "attachment" },
      p.type === "image" ? el("img", { src: p.url, alt: "" }) : el("span", { "aria-hidden": "true" }, "🎞"),
      el("span", { class: "name" }, p.name),
      el("button", { type: "button", class: "icon", "aria-label": `Remove ${p.name}`, title: "Remove",
        onclick: () => this.remove(p) }, "×"))));
  }
}
