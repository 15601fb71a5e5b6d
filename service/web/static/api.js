// The public API, as any client calls it: GET /v1/model, POST /v1/activations and /v1/explain,
// by URLs relative to the page's, so that they go where the page came from, prefix and all.
// Where the server wants an API key (it answers 401), the key the user gave is sent as
// `Authorization: Bearer <key>`; it is kept in sessionStorage: this tab only, gone with it.

const KEY = "lenet-serve.api-key";
const SENDABLE = /^[\x21-\x7e]+$/; // visible ASCII: what a header carries, in one token

/** The key in use, or null. */
export const savedKey = () => sessionStorage.getItem(KEY);

export const useKey = (key) => sessionStorage.setItem(KEY, key);

/** Whether `key` can be sent at all: a fetch throws, before sending, for a header with a
 * character past Latin-1 (`…`), and a space would end the token. Which keys are right is the
 * server's to say (a key file may list any key by its digest). */
export const sendable = (key) => SENDABLE.test(key);

/** An answer other than 2xx, with the API's own message, and the seconds its Retry-After
 * asks a client to wait (null without one). */
export class ApiError extends Error {
  constructor(status, { message = `HTTP ${status}` } = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The ApiError of a `response` that is not ok: the API's own error, or, for a body that is
 * not the API's (a proxy's HTML 502 or 504), its status line. */
async function failure(response) {
  const said = await response.json().catch(() => null);
  const message = `The server answered ${response.status} ${response.statusText}`.trim();
  const seconds = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
  const retryAfter = Number.isNaN(seconds) ? null : seconds;
  return new ApiError(response.status, said?.error ?? { message: `${message}.` }, retryAfter);
}

/** `init` with the key's Authorization header, where there is a key. A saved key that
 * cannot be sent (saved by an older page, in this tab) is forgotten, and the call goes
 * without one: where the server wants a key, its 401 asks for another. */
function keyed(init = {}) {
  let key = savedKey();
  if (key !== null && !sendable(key)) {
    sessionStorage.removeItem(KEY);
    key = null;
  }
  return key ? { ...init, headers: { ...init.headers, authorization: `Bearer ${key}` } } : init;
}

async function call(path, init) {
  const response = await fetch(path, keyed(init));
  if (!response.ok) throw await failure(response); // {"error": {"status", "code", "message"}}
  return response.json();
}

/** A PNG from the API as a data: URL: an <img src> could not send the key, and the page's
 * Content-Security-Policy allows data: pictures. */
export async function picture(path) {
  const response = await fetch(path, keyed());
  if (!response.ok) throw await failure(response);
  const blob = await response.blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** `what`: an image File, or 28 × 28 gray levels 0–255 already in MNIST's form. */
function post(path, what, query, signal) {
  const url = `${path}?${new URLSearchParams(query)}`;
  if (what instanceof Blob) {
    const form = new FormData();
    form.append("file", what);
    return call(url, { method: "POST", body: form, signal });
  }
  const headers = { "content-type": "application/json" };
  return call(url, { method: "POST", body: JSON.stringify({ instances: [what] }), headers, signal });
}

/** Little-endian float32 (every browser's CPU is little-endian) to a Float32Array. */
function floats(b64) {
  return new Float32Array(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer);
}

export const model = () => call("v1/model");

/** Every layer's output (each with `values`), the 28 × 28 input and, for an image, `box`. */
export async function activations(what, backend, signal) {
  const body = await post("v1/activations", what, { backend, encoding: "base64" }, signal);
  for (const layer of body.layers) layer.values = floats(layer.b64);
  return body;
}

/** The probabilities and the saliency map (`gradient.values`) of `digit`, or of the
 * predicted digit when it is undefined. */
export async function explain(what, backend, digit, signal) {
  const query = { backend, encoding: "base64", layers: "output" };
  if (digit !== undefined) query.digit = digit;
  const body = await post("v1/explain", what, query, signal);
  body.gradient.values = floats(body.gradient.b64);
  return body;
}
