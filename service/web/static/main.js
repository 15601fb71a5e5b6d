// The page: a drawing or a photo goes to the API when a stroke ends (after a pause, since a
// 4 or a 7 takes several strokes); its answers are drawn. Two requests per reading, one
// /v1/activations (every layer, the input, the box) and one /v1/explain (the probabilities
// and the saliency map), sent together; a newer reading aborts both. Choosing a bar asks for
// that digit's saliency map only: the probabilities shown stay the reading's. A 401 (the
// server wants an API key) shows a form for one and, once given, carries on.

import * as api from "./api.js";
import { showCard } from "./card.js";
import { Bars, percent } from "./chart.js";
import { Layers } from "./layers.js";
import { Pad } from "./pad.js";
import { paintInput, paintPhoto, paintSaliency, scaled } from "./pictures.js";

const PAUSE_MS = 300;
const MAX_SIDE = 2048; // a photo's longest side, in pixels, as the page sends it
const READ_TIMEOUT_MS = 60000; // a reading not answered by then has failed
const BUSY_TRIES = 3; // a reading refused 503 with Retry-After is sent again up to this often
const BUSY_MAX_S = 10; // if Retry-After asks no longer than this
const RETRY_MS = [1000, 2000, 4000, 8000]; // between tries to reach the model; then the last

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const backend = $("backend");
const WHY = $("saliency-caption").textContent; // page.html's, before any reading

let image = null; // the drawing or photo last sent
let levels = null; // the 28 × 28 the network saw, as gray levels 0–255
let answer = null; // its reading: { probabilities, predicted }
let photo = null; // the photo's ImageBitmap, drawn with its box
let reading = new AbortController();
let explaining = new AbortController();
let timer = 0;
let given = 0; // counts what the user gives: a photo still being scaled is dropped if not the last
let layers = null;
let keyAsked = null; // resolves when the user gives a key
let keyGiven = () => {};
let focusBeforeKey = null; // where the keyboard was when the key form took it

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function blank(canvas) {
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

/** While a reading is on its way the last answer stays, dimmed, and its bars, which have
 * nothing to explain meanwhile, take no clicks. */
function waiting(on) {
  document.body.classList.toggle("reading", on);
  $("bars").inert = on;
}

/** No answer on the page: before the first reading, after Clear, after an error. */
function reset() {
  waiting(false);
  reading.abort();
  explaining.abort();
  clearTimeout(timer);
  image = levels = answer = null;
  $("digit").textContent = "?";
  $("probability").textContent = "";
  bars.clear();
  blank($("input"));
  blank($("saliency"));
  $("saliency-caption").textContent = WHY;
  layers?.clear();
  say("Draw a digit to begin.");
}

function showPhoto(bitmap, box) {
  photo = bitmap;
  $("photo-figure").hidden = !bitmap;
  if (bitmap) paintPhoto($("photo"), bitmap, box);
}

/** The saliency map of `why.digit`, with the reading's probabilities. */
function showExplanation(why) {
  bars.show(answer.probabilities, answer.predicted, why.digit);
  paintSaliency($("saliency"), why.input, why.gradient.values);
  const d = why.digit;
  $("saliency-caption").textContent =
    `Why ${d}: red where more ink would raise p(${d}), blue where it would lower it`;
}

const refused = (error) => error instanceof api.ApiError && error.status === 401;

/** Show the key form, and say plainly why; resolves once a key is given. */
function askForKey() {
  const rejected = api.savedKey() !== null;
  $("key-help").textContent = rejected
    ? "The server did not accept the API key this tab sent. Paste a valid one."
    : "This server needs an API key to read digits. Paste yours: it stays in this tab " +
      "(session storage) and goes with each request.";
  say(rejected ? "The API key was not accepted." : "The server needs an API key.", true);
  $("key").hidden = false;
  if (document.activeElement !== $("key-input")) focusBeforeKey = document.activeElement;
  $("key-input").focus();
  keyAsked ??= new Promise((resolve) => {
    keyGiven = resolve;
  });
  return keyAsked;
}

/** `request()`'s answer, asked again once the user gives a key wherever the server wants
 * one (a 401: none given yet, or the one given no longer listed). */
async function withKey(request) {
  for (;;) {
    try {
      return await request();
    } catch (error) {
      if (!refused(error)) throw error;
      await askForKey();
    }
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault(); // no navigation: the page's CSP allows no form action
  const key = $("key-input").value.trim();
  if (!api.sendable(key)) {
    $("key-help").textContent =
      "That is not an API key: a key has only letters A–Z and a–z, digits and the " +
      "punctuation of a keyboard, no spaces and no other characters. Paste it again.";
    say("That is not an API key.", true);
    $("key-input").select();
    return;
  }
  api.useKey(key);
  $("key-input").value = "";
  $("key").hidden = true;
  // Back where it was, or to the first control past the pad: not lost to <body> with the form.
  const back = focusBeforeKey?.isConnected && focusBeforeKey !== document.body;
  (back ? focusBeforeKey : $("undo")).focus();
  say("Key saved for this tab.");
  keyAsked = null;
  keyGiven();
});

/** What went wrong, in words: the API's own message, or why there was no answer. */
function described(error) {
  if (error instanceof api.ApiError) return error.message;
  if (error.name === "TimeoutError") return `The service did not answer in ${READ_TIMEOUT_MS / 1000} s.`;
  return `The service did not answer (${error.message}).`;
}

/** A reading failed: no answer on the page, but what was given is kept, so that choosing a
 * backend, or giving the key asked for, reads it again. */
function failed(error) {
  if (error.name === "AbortError") return; // a newer reading took over
  const kept = image;
  reset();
  image = kept;
  if (refused(error)) {
    askForKey().then(() => image && read(image));
    return;
  }
  say(described(error), true);
}

/** Seconds to wait before sending a reading again that failed with `error`, its `tries`th
 * time; null when it is not to be sent again. A server shedding load answers 503 with
 * Retry-After (so does one shutting down, which a proxy's next replica answers instead). */
function busyFor(error, tries) {
  const wait = error instanceof api.ApiError && error.status === 503 ? error.retryAfter : null;
  return wait !== null && wait <= BUSY_MAX_S && tries < BUSY_TRIES ? wait : null;
}

/** Read `what`, an image File (the drawing or a photo), with the chosen backend. */
async function read(what, tries = 0) {
  reading.abort();
  explaining.abort();
  const mine = (reading = new AbortController());
  const late = setTimeout(
    () => mine.abort(new DOMException("no answer", "TimeoutError")),
    READ_TIMEOUT_MS,
  );
  image = what;
  levels = answer = null; // the last reading's: a bar chosen meanwhile has nothing to explain
  waiting(true);
  say("Reading…");
  try {
    const [seen, why] = await Promise.all([
      api.activations(what, backend.value, reading.signal),
      api.explain(what, backend.value, undefined, reading.signal),
    ]);
    explaining.abort(); // a bar chosen meanwhile explained the reading before
    // Clipped, since the API's input may pass 1 by a rounding error and the API refuses
    // gray levels past 255.
    levels = seen.input.map((row) => row.map((v) => Math.min(Math.max(v * 255, 0), 255)));
    answer = { probabilities: why.probabilities, predicted: why.predicted };
    paintInput($("input"), seen.input);
    layers.show(seen.layers);
    showExplanation(why);
    if (photo && seen.box) paintPhoto($("photo"), photo, seen.box);
    const p = why.probabilities[why.predicted];
    $("digit").textContent = why.predicted;
    $("probability").textContent = percent(p);
    say(`Read as ${why.predicted} (${percent(p)}) by ${why.backend}.`);
  } catch (error) {
    const wait = busyFor(error, tries);
    if (wait === null) return failed(error);
    say(`The server is busy; reading again in ${wait} s.`);
    await sleep(wait * 1000);
    if (reading === mine && image === what) read(what, tries + 1); // nothing newer meanwhile
  } finally {
    clearTimeout(late);
    if (reading === mine) waiting(false); // else a newer reading is on its way, or a retry
  }
}

/** The saliency map of another digit, for the same 28 × 28 (not the photo again: a few KB).
 * The bars keep the reading's probabilities: the API reads a digit it cut out of an image
 * as the average over a few views, and a 28 × 28 sent as it is once. */
async function explain(digit) {
  if (!levels) return;
  explaining.abort();
  explaining = new AbortController();
  try {
    showExplanation(await api.explain(levels, backend.value, digit, explaining.signal));
    say(`Why ${digit}: the gradient of p(${digit}) by input pixel.`);
  } catch (error) {
    if (refused(error)) failed(error);
    else if (error.name !== "AbortError") say(described(error), true); // the reading stays
  }
}

/** `file` as it is sent, and as it is shown (the same pixels, which the box the API answers
 * is in): a photo longer than MAX_SIDE scaled down here (`scaled`), since a phone's photo of
 * tens of megapixels would go whole, twice (a reading is two requests), for an API that
 * reads ink at a few hundred pixels, and may be past its limits. A format the browser
 * cannot show (HEIC on some phones) may still be one the API reads: it goes as it is. */
async function asSent(file) {
  // Upright by its EXIF orientation, as the API would turn it: the file made here has none.
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }).catch(
    () => null,
  );
  const scale = bitmap && MAX_SIDE / Math.max(bitmap.width, bitmap.height);
  if (!bitmap || scale >= 1) return [file, bitmap];
  try {
    const side = [bitmap.width, bitmap.height].map((s) => Math.max(1, Math.round(s * scale)));
    const sent = await scaled(bitmap, side);
    bitmap.close();
    return [sent, await createImageBitmap(sent)];
  } catch {
    return [file, bitmap]; // as it is: the API says whether it is too large
  }
}

async function readPhoto(file) {
  const mine = ++given;
  pad.clear();
  clearTimeout(timer);
  say("Reading…");
  const [sent, shown] = await asSent(file);
  if (mine !== given) return; // drawn on, cleared or another photo chosen meanwhile
  showPhoto(shown, null);
  read(sent);
}

function clear() {
  given += 1;
  pad.clear();
  showPhoto(null);
  reset();
}

function afterEdit() {
  clearTimeout(timer);
  if (pad.empty) clear();
  else timer = setTimeout(readDrawing, PAUSE_MS);
}

async function readDrawing() {
  const mine = given;
  const drawing = await pad.toFile();
  if (mine === given) read(drawing); // not cleared or drawn on while it was encoded
}

const bars = new Bars($("bars"), explain);
let pad = null;

/** /v1/model, once the model is loaded (503 until then) and a key given where one is needed.
 * No answer, or a proxy's 5xx, is tried again, less often as it goes on: without the model's
 * layers and backends the page can do nothing. */
async function loaded() {
  for (let failures = 0; ; ) {
    try {
      return await withKey(api.model);
    } catch (error) {
      const status = error instanceof api.ApiError ? error.status : 0;
      if (status === 503) {
        say("The model is still loading…");
        await sleep(RETRY_MS[0]);
        continue;
      }
      if (status !== 0 && status < 500) throw error;
      const wait = RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)];
      say(`${described(error)} Trying again in ${wait / 1000} s.`, true);
      await sleep(wait);
    }
  }
}

/** Everything that reads a digit, wired once the model's layers and backends are known. */
function start(summary) {
  backend.replaceChildren(
    ...summary.backends.map((name) => new Option(name, name, false, name === summary.default_backend)),
  );
  layers = new Layers($("layers"), $("map-info"), summary.layers);
  showCard($("facts"), $("curves"), summary, (path) => withKey(() => api.picture(path)));
  pad = new Pad($("pad"), (ended) => {
    given += 1;
    if (!ended) return clearTimeout(timer);
    showPhoto(null);
    afterEdit();
  });
  $("undo").addEventListener("click", () => {
    pad.undo();
    afterEdit();
  });
  $("clear").addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    const typing = event.target.isContentEditable || event.target.matches("input, textarea");
    // "Z" too, as Caps Lock sends it; not with Shift, which is redo's.
    const z = event.key.toLowerCase() === "z" && !event.shiftKey;
    if ((event.ctrlKey || event.metaKey) && z && !typing) {
      event.preventDefault();
      $("undo").click();
    }
  });
  for (const picker of [$("pick"), $("camera")]) {
    picker.addEventListener("change", () => {
      if (picker.files[0]) readPhoto(picker.files[0]);
      picker.value = ""; // the same file chosen again is a change again
    });
  }
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const files = [...event.dataTransfer.files];
    // No type: one the system cannot name (HEIC on some), which the API may read.
    const dropped = files.find((file) => file.type.startsWith("image/") || file.type === "");
    if (dropped) readPhoto(dropped);
    else if (files.length) say("That is not an image: drop a photo or a picture of a digit.", true);
  });
  backend.addEventListener("change", () => {
    if (image) read(image); // what the user gave, as first sent: not the 28 × 28, read once
  });
  reset();
  document.body.dataset.ready = "true";
}

loaded().then(start, failed);
