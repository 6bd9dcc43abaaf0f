// Talking to the server: JSON requests, and server-sent events from a POST (EventSource only does GET).

export class RequestFailed extends Error {
  constructor(message, status) {
    super(message);
    this.status = status; // the HTTP status; undefined for an error the model's stream reported
  }
}

async function failure(response) {
  const data = await response.json().catch(() => ({}));
  return new RequestFailed(data.error ? data.error.message : `${response.status} ${response.statusText}`, response.status);
}

export async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function* postEvents(path, body, signal) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (event && data) yield [event[1], JSON.parse(data[1])];
    }
  }
}
